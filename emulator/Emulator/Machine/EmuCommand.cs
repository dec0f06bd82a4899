using Emulator.Boot;
using Qed;

namespace Emulator.Machine;

/// <summary>
/// The <c>emu</c> command's body, for the front end to call: parse qemu-system-i386 style flags, build the
/// <see cref="Pc"/>, run it, and turn every error a user can cause into one line on stderr and exit status 1.
/// The exit status of a run is the guest's: 0 for power-off, a reset under -no-reboot or Ctrl-A x, and
/// (v &lt;&lt; 1) | 1 for a write of v to isa-debug-exit.
/// </summary>
public static class EmuCommand
{
    /// <param name="defaultFirmware">Booted when neither -kernel nor -bios is given (see <see cref="QemuCommandLine.Parse"/>).</param>
    public static int Run(IReadOnlyList<string> args, Pc.CpuFactory cpuFactory, Pc.DriveOpener driveOpener,
        TextWriter? stderr = null, string? defaultFirmware = null)
    {
        stderr ??= Console.Error;
        if (args.Any(a => a is "-h" or "-help" or "--help"))
        {
            Console.Out.WriteLine(QemuCommandLine.Usage);
            return 0;
        }
        try
        {
            var options = QemuCommandLine.Parse(args, defaultFirmware);
            var pc = new Pc(options, cpuFactory, driveOpener, diagnostics: stderr);
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var result = pc.Run();
                // EMU_STATS=1: one line for benchmarks (tests/bench/boot-bench.sh); the guest's output is untouched.
                if (Environment.GetEnvironmentVariable("EMU_STATS") == "1")
                    stderr.WriteLine($"emu: stats: {pc.InstructionsRetired} guest instructions in " +
                        $"{System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:0.000} s ({result.Reason})");
                return result.ExitCode;
            }
            finally
            {
                // The loop's synchronization context is no longer pumped: close the images without it.
                SynchronizationContext.SetSynchronizationContext(null);
                pc.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        catch (Exception e) when (e is MachineOptionException or BootException or ImageException)
        {
            stderr.WriteLine($"emu: {e.Message}");
            return 1;
        }
    }
}
