using Emulator.Bus;
using Emulator.Cpu;
using Iced.Intel;
using NUnit.Framework;

namespace Cpu.Tests.Support;

/// <summary>A CPU in flat 32-bit protected mode (ring 0, no paging) with code assembled by Iced's assembler;
/// for instruction-level tests. Code goes to <see cref="CodeBase"/>, data lives from <see cref="DataBase"/>.</summary>
internal sealed class FlatMachine
{
    public const uint CodeBase = 0x1000, DataBase = 0x8000, StackTop = 0x7000;
    public readonly MemoryBus Bus;
    public readonly IoPortBus Io = new();
    public readonly X86Cpu Cpu;

    public FlatMachine() : this(new MemoryBus(4u << 20), new InterruptPin()) { }

    public FlatMachine(MemoryBus bus, InterruptPin pin)
    {
        Bus = bus;
        Cpu = new X86Cpu(Bus, Io, pin);
        // A GDT with flat ring-0 code (0x08) and data (0x10), so that interrupts and far transfers work.
        const uint gdt = 0x10_0000;
        Write64(gdt + 8, 0x00CF_9B00_0000_FFFF);
        Write64(gdt + 16, 0x00CF_9300_0000_FFFF);
        Cpu.SetGdtr(gdt, 23);
        Cpu.Cr0 = 0x11;
        Cpu.SetSegment(SegmentRegister.CS, 0x08, 0, 0xFFFF_FFFF, 0xC09B);
        foreach (var s in new[] { SegmentRegister.DS, SegmentRegister.ES, SegmentRegister.SS, SegmentRegister.FS, SegmentRegister.GS })
            Cpu.SetSegment(s, 0x10, 0, 0xFFFF_FFFF, 0xC093);
        Cpu.SetRegister(Register32.Esp, StackTop);
    }

    /// <summary>Assembles code at <paramref name="at"/>; it must end with HLT.</summary>
    public void Load(Action<Assembler> build, uint at = CodeBase)
    {
        var a = new Assembler(32);
        build(a);
        var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), at);
        Bus.Load(at, ms.ToArray());
    }

    /// <summary>Runs from <paramref name="at"/> until HLT.</summary>
    public void Run(uint at = CodeBase, long budget = 1_000_000)
    {
        Cpu.Eip = at;
        var exit = Cpu.Run(budget);
        Assert.That(exit, Is.EqualTo(CpuExit.Halted), $"the code did not reach HLT (EIP {Cpu.Eip:X8})");
    }

    public uint Read32(uint a) => Bus.Read32(a);
    public void Write32(uint a, uint v) => Bus.Write32(a, v);
    public ulong Read64(uint a) => Bus.Read32(a) | (ulong)Bus.Read32(a + 4) << 32;
    public void Write64(uint a, ulong v) { Bus.Write32(a, (uint)v); Bus.Write32(a + 4, (uint)(v >> 32)); }
    public void Write80(uint a, ushort se, ulong m) { Write64(a, m); Bus.Write16(a + 8, se); }
    public (ushort se, ulong m) Read80(uint a) => (Bus.Read16(a + 8), Read64(a));
}

/// <summary>IDT set-up for <see cref="FlatMachine"/> tests.</summary>
internal static class FlatMachineIdt
{
    public const uint IdtBase = 0x20_0000;

    public static void SetGate(this FlatMachine m, int vector, uint handler, byte attributes = 0x8E)
    {
        uint e = IdtBase + (uint)vector * 8;
        m.Write32(e, (handler & 0xFFFF) | 0x08u << 16);
        m.Write32(e + 4, (handler & 0xFFFF_0000) | (uint)attributes << 8);
        m.Cpu.SetIdtr(IdtBase, 0x7FF);
    }
}
