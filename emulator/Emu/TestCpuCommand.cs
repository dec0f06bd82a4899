using System.CommandLine;
using Emulator.Cpu.Conformance;

namespace Emu;

/// <summary><c>emu test-cpu DIR</c>: runs SingleStepTests vector files on the CPU and prints the per-opcode table.</summary>
internal static class TestCpuCommand
{
    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo>("DIR")
        {
            Description = "folder of SingleStepTests vector files (*.jsonl.gz, 80286 or 80386 schema)",
        };
        var samples = new Option<int>("--failures")
        {
            Description = "failing tests to show per file",
            DefaultValueFactory = _ => 3,
        };
        var cmd = new Command("test-cpu", "run CPU conformance vectors and print a table per opcode") { dir, samples };
        cmd.SetAction(result =>
        {
            var d = result.GetValue(dir)!;
            try
            {
                var report = new SingleStepRunner().RunDirectory(d.FullName);
                report.Print(Console.Out, result.GetValue(samples));
                return report.Failed == 0 ? 0 : 1;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                // Unreadable, malformed or corrupt (.gz) vector files: one line and exit status 2.
                Console.Error.WriteLine($"emu test-cpu: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }
}
