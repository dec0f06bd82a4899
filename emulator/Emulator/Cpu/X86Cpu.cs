using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Emulator.Bus;

namespace Emulator.Cpu;

/// <summary>The eight general registers plus a ninth that always reads zero (an absent base or index).</summary>
[InlineArray(9)]
internal struct Gprs { private uint e0; }

[InlineArray(6)]
internal struct SegmentFile { private SegCache s0; }

/// <summary>
/// An i686-class x86 CPU (family 6): real mode, 16/32-bit protected mode with paging, x87, decoded with Iced
/// once per block of code. The class is split by concern over several files: state and the run loop here,
/// lazy flags (Flags.cs), segmentation (Segments.cs), the MMU and TLB (Mmu.cs), operand access (Memory.cs),
/// the block cache (BlockCache.cs), the Iced-to-handler translation (Translator.cs), exceptions and
/// interrupts (Interrupts.cs), far transfers (FarTransfer.cs), task switches (TaskSwitch.cs), CPUID and MSRs
/// (Identification.cs), executors by family (Exec/*.cs) and the x87 (Fpu/*.cs).
/// </summary>
public sealed unsafe partial class X86Cpu : ICpu
{
    // Handler results.
    internal const int Next = 0, Exit = 1, Fault = 2;
    internal const int ZeroReg = 8;

    // Segment register numbers (the order of the ModRM sreg field and of Iced's registers).
    internal const int ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;

    private readonly MemoryBus mem;
    private readonly IoPortBus io;
    private readonly InterruptPin intr;
    private readonly byte* ram;
    private readonly uint ramSize;

    internal Gprs regs;
    internal uint eip;
    internal SegmentFile segs;
    internal SegCache ldtr, tr;
    internal uint gdtBase, idtBase;
    internal uint gdtLimit, idtLimit;
    internal uint cr0, cr2, cr3, cr4;
    internal readonly uint[] dr = new uint[8];
    internal int cpl;

    // CR0 bits (SDM Vol. 3, 2.5).
    internal const uint CR0_PE = 1, CR0_MP = 2, CR0_EM = 4, CR0_TS = 8, CR0_ET = 0x10, CR0_NE = 0x20,
        CR0_WP = 0x10000, CR0_AM = 0x40000, CR0_NW = 0x2000_0000, CR0_CD = 0x4000_0000, CR0_PG = 0x8000_0000;
    // CR4 bits implemented: TSD, PSE, PGE, PCE.
    internal const uint CR4_TSD = 4, CR4_PSE = 0x10, CR4_PGE = 0x80, CR4_PCE = 0x100;
    internal const uint CR4_Supported = CR4_TSD | CR4_PSE | CR4_PGE | CR4_PCE;

    private long icount;
    private bool halted, shutdown, stopRequested;
    /// <summary>Interrupts are held off for one instruction after STI, MOV SS and POP SS (SDM Vol. 3, 6.8.3).</summary>
    internal bool inhibitInterrupts;
    /// <summary>Set when the code of the block being executed was overwritten: leave it after this instruction.</summary>
    internal bool blockInvalid;

    /// <summary>Iterations a REP string instruction runs before it yields to the loop (it then restarts).</summary>
    internal const int RepChunk = 1024;

    public X86Cpu(MemoryBus memory, IoPortBus io, InterruptPin intr)
    {
        mem = memory ?? throw new ArgumentNullException(nameof(memory));
        this.io = io ?? throw new ArgumentNullException(nameof(io));
        this.intr = intr ?? throw new ArgumentNullException(nameof(intr));
        // The bus allocates RAM pinned; the TLB maps linear pages straight to offsets in it.
        ram = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(memory.Ram));
        ramSize = memory.RamSize;
        InitTlb();
        InitBlockCache();
        fpu = new Fpu.X87(this);
        memory.CodePageWritten = InvalidateCodePage;
        memory.MappingChanged += OnMappingChanged;
        Reset();
    }

    internal MemoryBus Memory => mem;
    internal IoPortBus Io => io;

    // ---- ICpu ------------------------------------------------------------------------------------------

    public long InstructionCount => icount;

    public Func<ulong>? TimeStampCounter { get; set; }

    /// <summary>Raised when an unmasked x87 exception is pending and CR0.NE is clear: the PC wiring of FERR#
    /// to IRQ 13 (SDM Vol. 1, D.2.1). Argument true asserts, false deasserts (FNINIT/FNCLEX).</summary>
    public Action<bool>? FpuErrorLine { get; set; }

    public void RequestStop()
    {
        stopRequested = true;
        blockInvalid = true;            // leave the block after the current instruction
    }

    public void Reset()
    {
        for (int r = 0; r < 9; r++) regs[r] = 0;
        regs[2] = 0x600 | CpuidModel << 4 | CpuidStepping;   // EDX holds the processor signature after RESET
        eip = 0xFFF0;
        flagsRest = 2;
        SetArithFlags(0);
        cr0 = CR0_CD | CR0_NW | CR0_ET;
        cr2 = cr3 = cr4 = 0;
        for (int k = 0; k < 8; k++) dr[k] = 0;
        dr[6] = 0xFFFF_0FF0;
        dr[7] = 0x400;
        for (int s = 0; s < 6; s++)
            LoadSegmentRaw(s, 0, 0, 0xFFFF, s == CS ? (ushort)0x9B : (ushort)0x93);
        LoadSegmentRaw(CS, 0xF000, 0xFFFF_0000, 0xFFFF, 0x9B);
        gdtBase = idtBase = 0;
        gdtLimit = idtLimit = 0xFFFF;
        ldtr = SegCache.Make(0, 0, 0xFFFF, 0x82);
        tr = SegCache.Make(0, 0, 0xFFFF, 0x8B);
        sysenterCs = sysenterEsp = sysenterEip = 0;
        tscOffset = 0;
        perfCtr0 = perfCtr1 = 0;
        perfEvtSel0 = perfEvtSel1 = 0;
        SetCpl(0);
        halted = shutdown = false;
        inhibitInterrupts = false;
        pendingVector = -1;
        fpu.Reset();
        FlushTlb(all: true);
        UpdateMode();
    }

    public uint GetRegister(Register32 register) => regs[(int)register & 7];
    public void SetRegister(Register32 register, uint value) => regs[(int)register & 7] = value;

    /// <summary>EIP. Setting it (a boot loader or test starting code) also ends a HLT.</summary>
    public uint Eip
    {
        get => eip;
        set { eip = value; halted = false; }
    }

    public uint Eflags
    {
        get => GetEflags();
        set => SetEflagsRaw(value);
    }

    public uint Cr0
    {
        get => cr0;
        set
        {
            cr0 = (value & ~0x1FFF_FFC0u) | CR0_ET | (value & (CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG));
            OnPagingControlChanged();
            UpdateTlbPointers();
        }
    }

    public uint Cr3
    {
        get => cr3;
        set { cr3 = value & 0xFFFF_F018; FlushTlb(all: true); }
    }

    public uint Cr4
    {
        get => cr4;
        set { cr4 = value & CR4_Supported; FlushTlb(all: true); }
    }

    public void SetSegment(SegmentRegister segment, ushort selector, uint @base, uint limit, ushort attributes)
    {
        int s = (int)segment;
        if ((uint)s > 5) throw new ArgumentOutOfRangeException(nameof(segment));
        LoadSegmentRaw(s, selector, @base, limit, attributes);
        if (s == CS)
        {
            SetCpl((cr0 & CR0_PE) != 0 ? selector & 3 : 0);
            UpdateMode();
        }
    }

    public void SetGdtr(uint @base, ushort limit) { gdtBase = @base; gdtLimit = limit; }
    public void SetIdtr(uint @base, ushort limit) { idtBase = @base; idtLimit = limit; }

    /// <summary>Reads a segment register's selector (tests and diagnostics).</summary>
    public ushort GetSelector(SegmentRegister segment) => Seg((int)segment).Selector;
    public uint GetSegmentBase(SegmentRegister segment) => Seg((int)segment).Base;
    public uint Cr2 { get => cr2; set => cr2 = value; }
    public int Cpl => cpl;
    public bool IsHalted => halted;
    public bool IsShutdown => shutdown;
    /// <summary>The x87 unit (tests read its registers).</summary>
    public Fpu.X87 X87 => fpu;
    private readonly Fpu.X87 fpu;

    // ---- the run loop ------------------------------------------------------------------------------------

    public CpuExit Run(long maxInstructions)
    {
        stopRequested = false;
        if (maxInstructions <= 0) return CpuExit.BudgetExhausted;
        long end = icount + maxInstructions;
        long lastCount = -1;
        while (true)
        {
            // An iteration that retired nothing (an exception or interrupt was delivered, e.g. a fetch fault
            // whose handler faults again) still uses one unit of the budget: the slice always ends.
            if (icount == lastCount) end--;
            lastCount = icount;
            if (shutdown) return CpuExit.Shutdown;
            if (inhibitInterrupts)
            {
                // The instruction after STI / MOV SS runs before any interrupt is taken.
                inhibitInterrupts = false;
                if (!halted) { Step(1); continue; }
            }
            else if (intr.Asserted && (flagsRest & FlagIF) != 0 && intr.Controller is { } pic)
            {
                halted = false;
                byte vector = pic.Acknowledge();
                DeliverEvent(vector, EventKind.External, 0, false);
                continue;
            }
            if (halted) return CpuExit.Halted;
            if (stopRequested) return CpuExit.Stopped;
            long remaining = end - icount;
            if (remaining <= 0) return CpuExit.BudgetExhausted;
            if ((flagsRest & FlagTF) != 0) { StepTrapped(); continue; }
            Step(remaining > int.MaxValue ? int.MaxValue : (int)remaining);
        }
    }

    /// <summary>Runs at most <paramref name="limit"/> instructions of the block at CS:EIP.</summary>
    private void Step(int limit)
    {
        Block? b = FetchBlock();
        if (b == null) return;                      // the fetch faulted; the exception has been delivered
        int n = b.Count < limit ? b.Count : limit;
        ref Insn i0 = ref MemoryMarshal.GetArrayDataReference(b.Ops);
        currentPage = b.Transient ? NoPage : b.Phys >> 12;
        blockInvalid = false;
        int k = 0;
        while (k < n)
        {
            ref Insn i = ref Unsafe.Add(ref i0, k);
            uint start = eip;
            eip = start + i.Len;
            int r = i.Fn(this, ref i);
            if (r != Next)
            {
                if (r == Fault)
                {
                    if (!taskSwitchCommitted) eip = start;
                    taskSwitchCommitted = false;
                    icount += k;
                    currentPage = NoPage;
                    DeliverPendingFault();
                    return;
                }
                k++;
                break;
            }
            k++;
            if (blockInvalid) break;
        }
        icount += k;
        currentPage = NoPage;
    }

    /// <summary>One instruction with EFLAGS.TF set: a single-step #DB follows it (SDM Vol. 3, 17.3.1.4).</summary>
    private void StepTrapped()
    {
        long before = icount;
        Step(1);
        if (icount != before && !shutdown && !suppressSingleStep)
        {
            dr[6] |= 0x4000;                        // DR6.BS
            DeliverEvent(VecDB, EventKind.Trap, 0, false);
        }
        suppressSingleStep = false;
    }

    internal bool suppressSingleStep;

    /// <summary>HLT: stop until an interrupt (SDM Vol. 2, HLT).</summary>
    internal void EnterHalt() => halted = true;

    internal void EnterShutdown() => shutdown = true;

    internal bool StopRequested => stopRequested;
}

public sealed unsafe partial class X86Cpu
{
    /// <summary>Near jump within CS: #GP(0) beyond the limit (SDM Vol. 2, JMP).</summary>
    internal int NearJump(uint target)
    {
        if (target > Seg(CS).Limit) return RaiseFault(VecGP, 0);
        eip = target;
        return Exit;
    }

    /// <summary>LOOP's jump: on a limit fault the decremented counter is put back, so the fault is restartable.</summary>
    internal int NearJumpOrRestore(ref Insn i, uint target)
    {
        if (target > Seg(CS).Limit)
        {
            if ((i.Op & 4) != 0) R(ECX)++; else R16(ECX)++;
            return RaiseFault(VecGP, 0);
        }
        eip = target;
        return Exit;
    }
}
