// emu: the PC with qemu-system-i386's flags, and tool subcommands such as test-cpu.
using System.CommandLine;
using Emu;
using Emulator.Cpu;
using Emulator.Machine;
using Qed;

// Subcommands use System.CommandLine; everything else is a machine command line in QEMU's own syntax
// (single-dash options with comma-separated values), which its parser in Emulator.Machine handles.
if (args.Length > 0 && args[0] is "test-cpu" or "bench")
{
    var root = new RootCommand("emu: a small PC emulator (qemu-system-i386 style)");
    root.Subcommands.Add(TestCpuCommand.Create());
    root.Subcommands.Add(BenchCommand.Create());
    var parse = root.Parse(args);
    if (parse.Errors.Count > 0)
    {
        // One line, as every other bad argument gets (the parser's default prints the whole help).
        var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
        Console.Error.WriteLine($"emu: {string.Join(" ", error.Message.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))} (try 'emu {args[0]} --help')");
        return 1;
    }
    return parse.Invoke();
}

return EmuCommand.Run(args,
    (memory, io, pin) => new X86Cpu(memory, io, pin),
    drive => ImageOpener.OpenAsync(drive.File,
            drive.ResolveFormat() == DriveFormat.Qed ? "qed" : "raw",
            new QedOpenOptions
            {
                ReadOnly = drive.ReadOnly,
                TimeProvider = drive.TimeProvider ?? TimeProvider.System,
                SynchronousIo = drive.SynchronousIo,
            })
        .GetAwaiter().GetResult(),
    defaultFirmware: Path.Combine(AppContext.BaseDirectory, "bios.bin"));   // make build puts the BIOS beside emu
