namespace Qed;

internal enum ClusterKind : byte
{
    /// <summary>No L2 table maps this range (L1 entry 0).</summary>
    NoTable,
    /// <summary>L2 entry 0.</summary>
    Unallocated,
    /// <summary>L2 entry 1: reads as zeros, hides the backing file.</summary>
    Zero,
    /// <summary>L2 entries pointing at consecutive data clusters.</summary>
    Allocated,
}

/// <summary>
/// A run of clusters of one kind found by a lookup, never crossing an L2 table (QEMU's
/// qed_find_cluster): for allocated runs the host clusters are consecutive, so the run is one host I/O.
/// </summary>
internal readonly struct ClusterRun
{
    public readonly ClusterKind Kind;
    /// <summary>Guest bytes from the looked-up position covered by the run.</summary>
    public readonly long Length;
    /// <summary>Host offset of the looked-up position (allocated runs only).</summary>
    public readonly long HostOffset;
    /// <summary>The L2 table holding the run's entries (null for <see cref="ClusterKind.NoTable"/>).</summary>
    public readonly L2Table? Table;

    public ClusterRun(ClusterKind kind, long length, long hostOffset, L2Table? table)
    {
        Kind = kind;
        Length = length;
        HostOffset = hostOffset;
        Table = table;
    }

    public bool IsUnallocated => Kind is ClusterKind.NoTable or ClusterKind.Unallocated;
}
