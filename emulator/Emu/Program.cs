// emu: the PC with qemu-system-i386's flags (the machine's options are added to the root command), and
// tool subcommands such as test-cpu.
using System.CommandLine;
using Emu;

var root = new RootCommand("emu: a small PC emulator (qemu-system-i386 style)");
root.Subcommands.Add(TestCpuCommand.Create());
root.SetAction(_ =>
{
    Console.Error.WriteLine("emu: the machine is not assembled yet");
    return 1;
});
return root.Parse(args).Invoke();
