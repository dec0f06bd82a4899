namespace Emulator.Cpu;

/// <summary>Why <see cref="ICpu.Run"/> returned.</summary>
public enum CpuExit
{
    /// <summary>The instruction budget of the slice is used up.</summary>
    BudgetExhausted,
    /// <summary>HLT executed and no unmasked interrupt is pending: the loop may sleep until a timer or an
    /// I/O completion raises one.</summary>
    Halted,
    /// <summary>Triple fault (or another shutdown cycle): a PC resets; with -no-reboot the run ends.</summary>
    Shutdown,
    /// <summary><see cref="ICpu.RequestStop"/> was called during the slice.</summary>
    Stopped,
}

public enum SegmentRegister { ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5 }

public enum Register32 { Eax = 0, Ecx = 1, Edx = 2, Ebx = 3, Esp = 4, Ebp = 5, Esi = 6, Edi = 7 }

/// <summary>
/// What the machine (event loop, boot loaders, firmware loading) needs from the x86 CPU. The CPU reaches
/// memory through <see cref="Bus.MemoryBus"/>, ports through <see cref="Bus.IoPortBus"/> and samples its
/// INTR input through <see cref="Bus.InterruptPin"/>; all of them are given to its constructor.
/// </summary>
public interface ICpu
{
    /// <summary>Instructions retired since power-on; the machine may use it as a clock.</summary>
    long InstructionCount { get; }

    /// <summary>Runs until the budget is used up, HLT with nothing pending, shutdown, or a stop request.
    /// A halted CPU resumes (and returns at once with <see cref="CpuExit.Halted"/> if still nothing is
    /// pending) when called again.</summary>
    CpuExit Run(long maxInstructions);

    /// <summary>Ends the current slice at the next instruction boundary (called from device code running
    /// inside the slice, e.g. a port write that needs the loop's attention).</summary>
    void RequestStop();

    /// <summary>Power-on / RESET# state: real mode, CS selector F000 with base FFFF0000, IP FFF0.</summary>
    void Reset();

    /// <summary>Source of RDTSC; defaults to the instruction count.</summary>
    Func<ulong>? TimeStampCounter { get; set; }

    // ---- architectural state, for boot loaders and tests --------------------------------------------

    uint GetRegister(Register32 register);
    void SetRegister(Register32 register, uint value);
    uint Eip { get; set; }
    uint Eflags { get; set; }
    uint Cr0 { get; set; }
    uint Cr3 { get; set; }
    uint Cr4 { get; set; }

    /// <summary>Loads a segment register and its hidden descriptor cache directly, as a boot loader that
    /// enters the kernel in protected mode does. <paramref name="attributes"/> holds descriptor bits 40..47
    /// in bits 0..7 (type, S, DPL, P) and bits 52..55 in bits 12..15 (AVL, L, D/B, G), the layout VMX uses
    /// for segment access rights; <paramref name="limit"/> is the expanded byte limit.</summary>
    void SetSegment(SegmentRegister segment, ushort selector, uint @base, uint limit, ushort attributes);

    void SetGdtr(uint @base, ushort limit);
    void SetIdtr(uint @base, ushort limit);
}
