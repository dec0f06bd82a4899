using System.CommandLine;
using Emu.Bench;
using Qed;

namespace Emu;

/// <summary>
/// <c>emu bench</c>: runs a guest storage workload over a matrix of disk configurations and cache modes, under
/// this project's PC and beside it under qemu-system-i386, and writes JSON, CSV and PNG results into one folder
/// (see tests/bench/EXPERIMENTS.md).
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var workload = new Option<string>("--workload", "-w")
        {
            Description = "guest workload: install, seqio, randwrite or fsync",
            DefaultValueFactory = _ => "install",
        };
        workload.AcceptOnlyFromAmong([.. Workloads.Names]);
        var shortVariant = new Option<bool>("--short") { Description = "the short variant: a 4 MB install, smaller sizes, a 256 MiB target (for tests)" };
        var arg = new Option<long?>("--arg") { Description = "the workload's size: MiB for seqio, writes for randwrite, files for fsync" };
        var configs = new Option<string>("--configs", "-c")
        {
            Description = "disk configurations, comma-separated: " + string.Join(", ", DiskConfig.Known.Select(k => k.Name)),
            DefaultValueFactory = _ => string.Join(",", DiskConfig.Known.Select(k => k.Name)),
        };
        var cache = new Option<string>("--cache")
        {
            Description = "cache modes of the target disk, comma-separated: " + string.Join(", ", BenchOptions.KnownCacheModes),
            DefaultValueFactory = _ => "writeback",
        };
        var noQemu = new Option<bool>("--no-qemu") { Description = "do not run the workload under qemu-system-i386 as well" };
        var icount = new Option<int?>("--icount") { Description = "deterministic mode: -icount shift=N (2^N ns per instruction), RTC fixed at 2000-01-01" };
        var repeat = new Option<int>("--repeat") { Description = "runs per configuration", DefaultValueFactory = _ => 1 };
        var output = new Option<string?>("--out", "-o") { Description = "results folder (default: bench-results/WORKLOAD-VARIANT-DATE)" };
        var guest = new Option<string?>("--guest") { Description = "folder of the built guest (default: guest-images/build of this checkout)" };
        var diskSize = new Option<string?>("--disk-size") { Description = "target disk size, e.g. 512M or 2G (default 256M short, 1G full)" };
        var qemuBinary = new Option<string>("--qemu-binary") { Description = "QEMU to compare with", DefaultValueFactory = _ => "qemu-system-i386" };
        var keep = new Option<bool>("--keep-images") { Description = "keep the target images in the results folder (images/)" };
        var timeout = new Option<int>("--timeout") { Description = "seconds a single run may take", DefaultValueFactory = _ => 900 };

        var cmd = new Command("bench", "run a storage workload over disk configurations, beside QEMU, with JSON/CSV/PNG results")
        {
            workload, shortVariant, arg, configs, cache, noQemu, icount, repeat, output, guest, diskSize, qemuBinary, keep, timeout,
        };
        cmd.SetAction(p =>
        {
            try
            {
                bool isShort = p.GetValue(shortVariant);
                string wl = p.GetValue(workload)!;
                var caches = p.GetValue(cache)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
                foreach (var c in caches)
                    if (!BenchOptions.KnownCacheModes.Contains(c))
                        throw new BenchException($"--cache: unknown cache mode '{c}' (known: {string.Join(", ", BenchOptions.KnownCacheModes)})");
                if (caches.Count == 0) throw new BenchException("--cache: give at least one cache mode");
                if (p.GetValue(icount) is { } s && s is < 0 or > 10) throw new BenchException("--icount: the shift must be 0 to 10");
                if (p.GetValue(repeat) < 1) throw new BenchException("--repeat: at least 1");
                if (p.GetValue(timeout) < 1) throw new BenchException("--timeout: at least 1 second");
                if (p.GetValue(arg) is <= 0) throw new BenchException("--arg: must be a positive number");
                long size = isShort ? 256L << 20 : 1L << 30;
                if (p.GetValue(diskSize) is { } text)
                    size = ParseSize(text) ?? throw new BenchException($"--disk-size: '{text}' is not a size (examples: 512M, 2G)");
                if (size < 64L << 20) throw new BenchException("--disk-size: at least 64M (the ext4 and its journal need room)");
                var options = new BenchOptions
                {
                    Workload = wl,
                    Short = isShort,
                    WorkloadArgument = p.GetValue(arg),
                    Configs = DiskConfig.Parse(p.GetValue(configs)!),
                    CacheModes = caches,
                    Qemu = !p.GetValue(noQemu),
                    IcountShift = p.GetValue(icount),
                    Repeat = p.GetValue(repeat),
                    OutDir = p.GetValue(output) ?? Path.Combine("bench-results", $"{wl}-{(isShort ? "short" : "full")}-{DateTime.Now:yyyyMMdd-HHmmss}"),
                    GuestDir = p.GetValue(guest) ?? DefaultGuestDir(),
                    TargetBytes = size,
                    QemuBinary = p.GetValue(qemuBinary)!,
                    KeepImages = p.GetValue(keep),
                    Timeout = TimeSpan.FromSeconds(p.GetValue(timeout)),
                };
                return BenchRunner.RunAsync(options).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is BenchException or ImageException or IOException or UnauthorizedAccessException
                                      or Emulator.Machine.MachineOptionException or Emulator.Boot.BootException)
            {
                Console.Error.WriteLine($"emu bench: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }

    /// <summary>guest-images/build of the checkout this emu was built from (bin/emu → ../guest-images/build), else of the current folder.</summary>
    private static string DefaultGuestDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "guest-images", "build");
            if (Directory.Exists(candidate)) return candidate;
        }
        return Path.Combine("guest-images", "build");
    }

    private static long? ParseSize(string text)
    {
        text = text.Trim();
        if (text.Length == 0) return null;
        int shift = char.ToUpperInvariant(text[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        string digits = shift == 0 ? text : text[..^1];
        return long.TryParse(digits, out long n) && n > 0 && n < (1L << (62 - shift)) ? n << shift : null;
    }
}
