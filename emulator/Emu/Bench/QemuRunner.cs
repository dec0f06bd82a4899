using System.Security.Cryptography;
using System.Text;

namespace Emu.Bench;

/// <summary>
/// The same run under qemu-system-i386 (TCG): the same kernel, command line and disks (a fresh copy of the same
/// initial target image), with the flags QEMU needs for this guest (CPU model, the debug-exit port, no NIC).
/// </summary>
internal static class QemuRunner
{
    public static readonly string[] QemuOnlyArgs =
        ["-accel", "tcg", "-cpu", "pentium3", "-nic", "none", "-device", "isa-debug-exit,iobase=0x501,iosize=2"];

    public static async Task<RunResult> RunAsync(BenchOptions o, RunSpec spec, Action<long>? progressLines)
    {
        string qemu = HostTool.Find(o.QemuBinary, "qemu-system-x86");
        var args = new List<string>(QemuOnlyArgs);
        args.AddRange(EmuRunner.MachineArgs(o, spec.RootImage, spec.TargetImage, spec.Config.Format, spec.Cache));
        long lines = 0;
        var r = HostTool.Run(qemu, args, o.Timeout, spec.ConsoleFile, _ => progressLines?.Invoke(++lines));
        var (length, allocated) = await ImageChecks.FileSizesAsync(spec.TargetImage, spec.Config.Format);
        return new RunResult
        {
            Id = spec.Id, Config = spec.Config.Name, Cache = spec.Cache, Emulator = "qemu", Repeat = spec.Repeat,
            Deterministic = o.IcountShift is not null,
            ExitCode = r.ExitCode,
            TimedOut = r.TimedOut,
            Guest = GuestReport.Parse(r.Stdout),
            HostSeconds = r.Elapsed.TotalSeconds,
            FileBytes = length,
            AllocatedBytes = allocated,
            ConsoleHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(r.Stdout))),
            ConsoleFile = spec.ConsoleFile,
            ImageFile = spec.TargetImage,
            Diagnostics = r.Stderr.Trim(),
        };
    }
}
