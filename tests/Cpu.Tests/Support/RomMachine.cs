using System.Text;
using Emulator.Bus;
using Emulator.Cpu;
using NUnit.Framework;

namespace Cpu.Tests.Support;

/// <summary>
/// A bare machine for the ROM test programs: RAM, the 64 KiB image mapped at 0xF0000 and 0xFFFF0000 as a
/// PC firmware is, QEMU's debug console (port 0xE9) and exit device (port 0xF4), and the CPU starting from
/// its reset vector. The same image runs under qemu-system-i386 -bios, see <see cref="RomPrograms"/>.
/// </summary>
internal sealed class RomMachine : IPortDevice
{
    public readonly MemoryBus Bus = new(32u << 20);
    public readonly X86Cpu Cpu;
    private readonly StringBuilder output = new();
    public int? ExitCode { get; private set; }

    public RomMachine(byte[] rom)
    {
        if (rom.Length != 0x10000) throw new ArgumentException("test ROM images are 64 KiB");
        Bus.MapRom(0xF0000, rom, 0, 0x10000, "test-rom");
        Bus.MapRom(0xFFFF_0000, rom, 0, 0x10000, "test-rom-high");
        var io = new IoPortBus();
        io.Register(0xE9, 1, this);
        io.Register(0xF4, 4, this);
        Cpu = new X86Cpu(Bus, io, new InterruptPin());
    }

    public uint In(ushort port, int size) => port == 0xE9 ? 0xE9u : 0xFFFF_FFFFu;

    public void Out(ushort port, int size, uint value)
    {
        if (port == 0xE9) output.Append((char)(value & 0xFF));
        else { ExitCode = (int)value; Cpu.RequestStop(); }
    }

    /// <summary>Runs until the program writes port 0xF4; fails the test on a hang, HLT or shutdown first.</summary>
    public string Run(long budget = 100_000_000)
    {
        long end = Cpu.InstructionCount + budget;
        while (ExitCode == null)
        {
            var exit = Cpu.Run(Math.Min(1_000_000, end - Cpu.InstructionCount));
            if (ExitCode != null) break;
            if (exit is CpuExit.Halted or CpuExit.Shutdown)
                Assert.Fail($"the program stopped ({exit}) at EIP {Cpu.Eip:X8} before finishing; output so far:\n{output}");
            if (Cpu.InstructionCount >= end)
                Assert.Fail($"the program did not finish within {budget} instructions; output so far:\n{output}");
        }
        return output.ToString();
    }
}
