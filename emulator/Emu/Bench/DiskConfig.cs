namespace Emu.Bench;

/// <summary>
/// One disk configuration of the experiment matrix: how the target disk (/dev/vdb) is stored on the host.
/// Every configuration starts from the same bytes: a fresh ext4 made by mke2fs on a raw file.
/// </summary>
/// <param name="Name">As given to --configs.</param>
/// <param name="Format">"qed" or "raw" (the -drive format of the target).</param>
/// <param name="ClusterSize">QED cluster size in bytes (0 for raw).</param>
/// <param name="Overlay">A QED image whose backing file (a QED image of the same cluster size) holds the fresh filesystem.</param>
internal sealed record DiskConfig(string Name, string Format, uint ClusterSize, bool Overlay, string Description)
{
    public static readonly IReadOnlyList<DiskConfig> Known =
    [
        new("qed64k", "qed", 65536, false, "QED, 64 KiB clusters (the default)"),
        new("qed4k", "qed", 4096, false, "QED, 4 KiB clusters"),
        new("overlay", "qed", 65536, true, "QED 64 KiB overlay on a QED base image holding the fresh filesystem"),
        new("raw", "raw", 0, false, "raw file (sparse)"),
    ];

    public bool IsQed => Format == "qed";

    public static IReadOnlyList<DiskConfig> Parse(string text)
    {
        var list = new List<DiskConfig>();
        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var c = Known.FirstOrDefault(k => k.Name == name)
                ?? throw new BenchException($"--configs: unknown configuration '{name}' (known: {string.Join(", ", Known.Select(k => k.Name))})");
            if (!list.Contains(c)) list.Add(c);
        }
        if (list.Count == 0) throw new BenchException("--configs: give at least one configuration");
        return list;
    }
}

/// <summary>The guest workloads (guest-images/workloads/run.sh) and their sizes in the short and full variants.</summary>
internal static class Workloads
{
    public static readonly IReadOnlyList<string> Names = ["install", "seqio", "randwrite", "fsync"];

    /// <summary>guest.wlarg when none is given: MiB for seqio, writes for randwrite, files for fsync.</summary>
    public static long? DefaultArgument(string workload, bool shortVariant) => workload switch
    {
        "seqio" => shortVariant ? 8 : 64,
        "randwrite" => shortVariant ? 500 : 4000,
        "fsync" => shortVariant ? 50 : 300,
        _ => null,
    };

    /// <summary>Guest bytes the workload writes to the target, roughly (for the progress display).</summary>
    public static long ExpectedBytes(string workload, long? arg, long installBytes) => workload switch
    {
        "install" => installBytes + installBytes / 8,
        "seqio" => (arg ?? 64) << 20,
        "randwrite" => (arg ?? 4000) * 4096,
        "fsync" => (arg ?? 300) * 4096 * 4,
        _ => 1,
    };

    /// <summary>Workloads that leave the target's filesystem in place, so e2fsck can judge it afterwards.</summary>
    public static bool KeepsFilesystem(string workload) => workload != "randwrite";
}
