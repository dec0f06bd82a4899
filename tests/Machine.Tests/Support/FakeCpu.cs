using Emulator.Bus;
using Emulator.Cpu;

namespace Machine.Tests.Support;

/// <summary>
/// A stand-in for the x86 CPU in board tests: it "retires" instructions by counting and runs a script that the
/// test gives (port and memory accesses through the real buses, HLT, shutdown). It records the state boot
/// loaders set. Interrupts are taken the way the CPU contract describes: when IF is set and INTR is asserted,
/// at an instruction boundary, through the controller's INTA cycle.
/// </summary>
public sealed class FakeCpu : ICpu
{
    public readonly MemoryBus Memory;
    public readonly IoPortBus Io;
    public readonly InterruptPin Pin;
    private readonly uint[] regs = new uint[8];
    private bool stopRequested;

    /// <summary>Called once per Run with the budget; returns how the slice ended. Default: retire the budget.</summary>
    public Func<FakeCpu, long, CpuExit>? Script;
    /// <summary>Vectors delivered through INTA, in order.</summary>
    public readonly List<byte> Interrupts = new();
    public readonly Dictionary<SegmentRegister, (ushort Selector, uint Base, uint Limit, ushort Attributes)> Segments = new();
    public (uint Base, ushort Limit) Gdtr, Idtr;
    public int ResetCount;
    public bool Halted;

    public FakeCpu(MemoryBus memory, IoPortBus io, InterruptPin pin)
    {
        Memory = memory;
        Io = io;
        Pin = pin;
    }

    public long InstructionCount { get; set; }
    public Func<ulong>? TimeStampCounter { get; set; }
    public uint Eip { get; set; }
    public uint Eflags { get; set; } = 2;
    public uint Cr0 { get; set; }
    public uint Cr3 { get; set; }
    public uint Cr4 { get; set; }

    public bool InterruptsEnabled
    {
        get => (Eflags & 0x200) != 0;
        set => Eflags = value ? Eflags | 0x200 : Eflags & ~0x200u;
    }

    public CpuExit Run(long maxInstructions)
    {
        stopRequested = false;
        return Script != null ? Script(this, maxInstructions) : Retire(maxInstructions);
    }

    /// <summary>Retires up to <paramref name="count"/> instructions, taking interrupts between them.</summary>
    public CpuExit Retire(long count)
    {
        for (long i = 0; i < count; i++)
        {
            if (stopRequested) return CpuExit.Stopped;
            TakeInterrupt();
            InstructionCount++;
        }
        return stopRequested ? CpuExit.Stopped : CpuExit.BudgetExhausted;
    }

    /// <summary>HLT: stays halted (returns Halted) until an interrupt can be taken.</summary>
    public CpuExit Hlt()
    {
        if (InterruptsEnabled && Pin.Asserted)
        {
            Halted = false;
            TakeInterrupt();
            return CpuExit.BudgetExhausted;
        }
        Halted = true;
        return CpuExit.Halted;
    }

    public bool TakeInterrupt()
    {
        if (!InterruptsEnabled || !Pin.Asserted || Pin.Controller == null) return false;
        Interrupts.Add(Pin.Controller.Acknowledge());
        return true;
    }

    public bool StopRequested => stopRequested;
    public void RequestStop() => stopRequested = true;

    public void Reset()
    {
        ResetCount++;
        Eip = 0xFFF0;
        Eflags = 2;
        Cr0 = 0x10;
        Array.Clear(regs);
        Halted = false;
    }

    public uint GetRegister(Register32 register) => regs[(int)register];
    public void SetRegister(Register32 register, uint value) => regs[(int)register] = value;

    public void SetSegment(SegmentRegister segment, ushort selector, uint @base, uint limit, ushort attributes) =>
        Segments[segment] = (selector, @base, limit, attributes);

    public void SetGdtr(uint @base, ushort limit) => Gdtr = (@base, limit);
    public void SetIdtr(uint @base, ushort limit) => Idtr = (@base, limit);
}
