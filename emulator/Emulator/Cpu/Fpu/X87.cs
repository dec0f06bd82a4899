namespace Emulator.Cpu.Fpu;

/// <summary>
/// The x87 floating-point unit (SDM Vol. 1, chapter 8): eight 80-bit registers addressed as a stack through
/// TOP, the control, status and tag words, and the last-instruction and last-operand pointers. Arithmetic is
/// exact IEEE extended precision with the control word's rounding and precision control (see
/// <see cref="SoftFloat"/>); the transcendental instructions are computed in double precision (see
/// <see cref="FpuOps"/>). Unmasked exceptions set ES and are reported at the next waiting instruction as #MF
/// (CR0.NE = 1) or on FERR#, the PC's IRQ 13 (CR0.NE = 0).
/// </summary>
public sealed class X87
{
    // Status word bits (SDM Vol. 1, 8.1.3).
    internal const int SwES = 0x80, SwC0 = 0x100, SwC1 = 0x200, SwC2 = 0x400, SwC3 = 0x4000, SwB = 0x8000;
    internal const int SwConditions = SwC0 | SwC1 | SwC2 | SwC3;

    private readonly X86Cpu cpu;
    internal readonly Float80[] regs = new Float80[8];
    internal int top;
    /// <summary>Bit n set: physical register n is empty.</summary>
    internal int empty;
    internal ushort cw, sw;
    internal uint fip, fdp;
    internal ushort fcs, fds, fop;
    internal bool ferr;

    internal X87(X86Cpu cpu) { this.cpu = cpu; }

    public ushort ControlWord => cw;
    public ushort StatusWord => (ushort)((sw & ~0x3800) | (top << 11));
    public ushort TagWord
    {
        get
        {
            int t = 0;
            for (int p = 0; p < 8; p++) t |= Tag(p) << (2 * p);
            return (ushort)t;
        }
    }

    /// <summary>ST(i), whatever its tag.</summary>
    public Float80 ST(int i) => regs[(top + i) & 7];
    public bool IsEmpty(int i) => (empty & (1 << ((top + i) & 7))) != 0;

    internal int Rc => (cw >> 10) & 3;
    internal int Pc => (cw >> 8) & 3;
    internal bool OverflowUnmasked => (cw & FpuFlags.OE) == 0;
    internal bool UnderflowUnmasked => (cw & FpuFlags.UE) == 0;

    /// <summary>Tag of a physical register: 0 valid, 1 zero, 2 special (NaN, infinity, denormal, unsupported), 3 empty.</summary>
    internal int Tag(int phys)
    {
        if ((empty & (1 << phys)) != 0) return 3;
        var v = regs[phys];
        if (v.IsZero) return 1;
        if (v.Exponent == 0x7FFF || v.Exponent == 0 || (v.Mantissa & (1UL << 63)) == 0) return 2;
        return 0;
    }

    /// <summary>Power-on state (SDM Vol. 3, Table 9-1).</summary>
    internal void Reset()
    {
        Init();
        cw = 0x40;
        empty = 0;
        for (int k = 0; k < 8; k++) regs[k] = Float80.Zero;
    }

    /// <summary>FNINIT.</summary>
    internal void Init()
    {
        cw = 0x37F;
        sw = 0;
        top = 0;
        empty = 0xFF;
        fip = fdp = 0;
        fcs = fds = fop = 0;
        SetFerr(false);
    }

    internal void SetFerr(bool level)
    {
        if (ferr == level) return;
        ferr = level;
        cpu.FpuErrorLine?.Invoke(level);
    }

    internal void Set(int i, Float80 v)
    {
        int p = (top + i) & 7;
        regs[p] = v;
        empty &= ~(1 << p);
    }

    internal void Push(Float80 v)
    {
        top = (top - 1) & 7;
        regs[top] = v;
        empty &= ~(1 << top);
    }

    internal void Pop()
    {
        empty |= 1 << top;
        top = (top + 1) & 7;
    }

    internal void Free(int i) => empty |= 1 << ((top + i) & 7);

    /// <summary>Records exception flags of an operation; true when the destination may be written (no unmasked
    /// IE, DE or ZE). C1 takes the "rounded up" bit.</summary>
    internal bool Signal(int flags)
    {
        sw = (ushort)(sw & ~SwC1);
        if ((flags & FpuFlags.C1) != 0 && (flags & FpuFlags.PE) != 0) sw |= SwC1;
        int exc = flags & 0x3F;
        sw |= (ushort)exc;
        int unmasked = exc & ~cw & 0x3F;
        if (unmasked != 0) sw |= SwES | SwB;
        return (unmasked & (FpuFlags.IE | FpuFlags.DE | FpuFlags.ZE)) == 0;
    }

    /// <summary>True when an operation that raised <paramref name="flags"/> must not write memory
    /// (unmasked IE, DE, ZE, OE or UE).</summary>
    internal bool SuppressesStore(int flags) => (flags & ~cw & (FpuFlags.IE | FpuFlags.DE | FpuFlags.ZE | FpuFlags.OE | FpuFlags.UE)) != 0;

    /// <summary>Stack underflow (an empty register read): IE and SF, C1 = 0. True when masked (the caller
    /// then uses the indefinite).</summary>
    internal bool Underflow()
    {
        sw = (ushort)((sw & ~SwC1) | FpuFlags.IE | FpuFlags.SF);
        if ((cw & FpuFlags.IE) == 0) { sw |= SwES | SwB; return false; }
        return true;
    }

    /// <summary>Stack overflow (push onto a full register): IE and SF, C1 = 1.</summary>
    internal bool Overflow()
    {
        sw = (ushort)(sw | SwC1 | FpuFlags.IE | FpuFlags.SF);
        if ((cw & FpuFlags.IE) == 0) { sw |= SwES | SwB; return false; }
        return true;
    }

    /// <summary>Pushes a value, with the stack-overflow response when ST(7) is in use.</summary>
    internal void PushChecked(Float80 v)
    {
        if (!IsEmpty(7))
        {
            if (!Overflow()) return;
            v = Float80.Indefinite;
        }
        Push(v);
    }

    internal void SetConditions(int c3c2c1c0)
    {
        sw = (ushort)((sw & ~SwConditions) | (c3c2c1c0 & SwConditions));
    }

    internal void LoadStatus(ushort value)
    {
        sw = (ushort)(value & ~0x3800);
        top = (value >> 11) & 7;
        UpdateSummary();
    }

    internal void LoadControl(ushort value)
    {
        cw = (ushort)((value & 0x1F3F) | 0x40);
        UpdateSummary();
    }

    /// <summary>ES and B follow the exception flags not masked by the control word.</summary>
    internal void UpdateSummary()
    {
        if ((sw & ~cw & 0x3F) != 0) sw |= SwES | SwB;
        else sw = (ushort)(sw & ~(SwES | SwB));
    }

    internal void LoadTags(ushort tags)
    {
        empty = 0;
        for (int p = 0; p < 8; p++)
            if (((tags >> (2 * p)) & 3) == 3) empty |= 1 << p;
    }
}
