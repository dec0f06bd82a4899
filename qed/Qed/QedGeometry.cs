using System.Numerics;

namespace Qed;

/// <summary>
/// Address arithmetic of one QED image (QED spec, "Tables"): a guest offset splits into an L1 index,
/// an L2 index and an offset inside the cluster.
/// </summary>
public readonly struct QedGeometry
{
    public readonly int ClusterSize;
    public readonly int TableSize;
    public readonly int ClusterBits;
    /// <summary>Entries per table: table_size × cluster_size / 8.</summary>
    public readonly int TableEntries;
    public readonly int L1Shift;
    public readonly long HeaderAreaBytes;

    public QedGeometry(uint clusterSize, uint tableSize, uint headerSize)
    {
        ClusterSize = (int)clusterSize;
        TableSize = (int)tableSize;
        ClusterBits = BitOperations.Log2(clusterSize);
        TableEntries = (int)((long)clusterSize * tableSize / 8);
        L1Shift = ClusterBits + BitOperations.Log2((uint)TableEntries);
        HeaderAreaBytes = (long)headerSize * clusterSize;
    }

    public int TableBytes => TableEntries * 8;
    /// <summary>Guest bytes one L2 table maps.</summary>
    public long BytesPerTable => (long)TableEntries << ClusterBits;

    public int L1Index(long pos) => (int)(pos >> L1Shift);
    public int L2Index(long pos) => (int)((pos >> ClusterBits) & (TableEntries - 1));
    public int OffsetInCluster(long pos) => (int)(pos & (ClusterSize - 1));
    public long StartOfCluster(long pos) => pos & ~(long)(ClusterSize - 1);
    public long StartOfTableSpan(long pos) => pos & ~(BytesPerTable - 1);
    public bool IsClusterAligned(long pos) => (pos & (ClusterSize - 1)) == 0;

    /// <summary>Clusters needed to hold <paramref name="bytes"/> (rounded up; QEMU divides by cluster_size−1 here, a bug).</summary>
    public long BytesToClusters(long bytes) => (bytes + ClusterSize - 1) >> ClusterBits;

    /// <summary>Clusters touched by the byte range [pos, pos+length).</summary>
    public int ClustersInRange(long pos, long length) =>
        (int)((StartOfCluster(pos + length - 1) - StartOfCluster(pos) >> ClusterBits) + 1);

    /// <summary>
    /// A data cluster offset is valid when cluster-aligned, past the header area and inside the file
    /// (QEMU's qed_check_cluster_offset).
    /// </summary>
    public bool IsClusterOffsetValid(ulong offset, long fileSize) =>
        (offset & (ulong)(ClusterSize - 1)) == 0 && offset >= (ulong)HeaderAreaBytes && offset < (ulong)fileSize;

    /// <summary>QEMU's qed_check_table_offset without its table_size 1 bug (see the static overload).</summary>
    public bool IsTableOffsetValid(ulong offset, long fileSize) =>
        IsTableOffsetValid(offset, (uint)ClusterSize, (uint)TableSize, (uint)(HeaderAreaBytes / ClusterSize), (ulong)fileSize);

    /// <summary>
    /// A table is valid when its first cluster is a valid cluster offset and its last cluster lies inside
    /// the file. QEMU also rejects <c>end &lt;= offset</c> as overflow, which is always true with
    /// table_size 1, so QEMU cannot open such images; here only real overflow is rejected.
    /// </summary>
    public static bool IsTableOffsetValid(ulong offset, uint clusterSize, uint tableSize, uint headerSize, ulong fileSize)
    {
        ulong headerArea = (ulong)headerSize * clusterSize;
        ulong last = offset + (ulong)(tableSize - 1) * clusterSize;
        if (last < offset) return false;
        return (offset & (clusterSize - 1)) == 0 && offset >= headerArea && last < fileSize;
    }
}
