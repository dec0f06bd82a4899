namespace Emu.Bench;

/// <summary>Everything one experiment run is asked to do (emu bench's options, validated).</summary>
internal sealed record BenchOptions
{
    public required string Workload { get; init; }
    public required bool Short { get; init; }
    public long? WorkloadArgument { get; init; }
    public required IReadOnlyList<DiskConfig> Configs { get; init; }
    /// <summary>-drive cache= modes of the target disk.</summary>
    public required IReadOnlyList<string> CacheModes { get; init; }
    public bool Qemu { get; init; } = true;
    /// <summary>Deterministic mode (-icount shift=N) for emu, and the same flag for QEMU.</summary>
    public int? IcountShift { get; init; }
    public int Repeat { get; init; } = 1;
    public required string OutDir { get; init; }
    public required string GuestDir { get; init; }
    public required long TargetBytes { get; init; }
    public string QemuBinary { get; init; } = "qemu-system-i386";
    public bool KeepImages { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(15);
    public int MemoryMiB { get; init; } = 128;

    public static readonly IReadOnlyList<string> KnownCacheModes = ["writeback", "none", "writethrough", "directsync", "unsafe"];

    public string Variant => Short ? "short" : "full";

    public long? EffectiveArgument => WorkloadArgument ?? Workloads.DefaultArgument(Workload, Short);

    /// <summary>The kernel command line: the project's guest in workload mode.</summary>
    public string Append => "console=ttyS0 root=/dev/vda rw panic=-1 guest.mode=workload guest.workload=" + Workload
        + (EffectiveArgument is { } a ? $" guest.wlarg={a}" : "");

    public string GuestFile(string name)
    {
        string path = Path.Combine(GuestDir, name);
        if (!File.Exists(path))
            throw new BenchException($"{path} is missing: build the guest with ./guest-images/build.sh (make guest-cached)");
        return path;
    }
}
