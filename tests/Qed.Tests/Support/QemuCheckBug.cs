namespace Qed.Tests.Support;

/// <summary>
/// QEMU's qed_bytes_to_clusters divides by cluster_size − 1, so its check maps cluster k to bitmap bit
/// k + k/(C−1) and reports "leaks" at the bits it skips once the file holds C−1 clusters or more. This
/// predicts that count for a file with no real leaks, so tests can tell QEMU's artefact from a real leak.
/// </summary>
public static class QemuCheckBug
{
    public static long SpuriousLeaks(long fileLength, int clusterSize, int headerClusters = 1)
    {
        long c = clusterSize;
        long n = fileLength / c;
        long buggyTotal = n + n / (c - 1);
        long skipped = 0;
        // Bits k + k/(C-1) for k in [0, n) are marked; the bits in between are skipped.
        for (long j = 1; j <= n / (c - 1) + 1; j++)
        {
            long bit = j * (c - 1) + j - 1;
            if (bit >= headerClusters && bit < buggyTotal) skipped++;
        }
        return skipped;
    }
}
