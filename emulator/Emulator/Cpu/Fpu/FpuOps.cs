using System.Buffers.Binary;

namespace Emulator.Cpu.Fpu;

/// <summary>An x87 memory source operand format.</summary>
internal interface IFLoad { static abstract bool Load(X86Cpu c, ref Insn i, out Float80 v, ref int flags); }

/// <summary>An x87 memory destination format.</summary>
internal interface IFStore
{
    static abstract int Size { get; }
    static abstract void Encode(X87 f, Float80 v, Span<byte> dst, ref int flags);
    static abstract void Indefinite(Span<byte> dst);
}

internal struct F32 : IFLoad, IFStore
{
    public static bool Load(X86Cpu c, ref Insn i, out Float80 v, ref int flags)
    {
        v = default;
        if (!c.Read32(i.Seg, c.Ea(ref i), out uint b)) return false;
        v = SoftFloat.FromSingle(b, ref flags);
        return true;
    }
    public static int Size => 4;
    public static void Encode(X87 f, Float80 v, Span<byte> d, ref int flags)
        => BinaryPrimitives.WriteUInt32LittleEndian(d, SoftFloat.ToSingle(v, f.Rc, ref flags));
    public static void Indefinite(Span<byte> d) => BinaryPrimitives.WriteUInt32LittleEndian(d, 0xFFC0_0000);
}

internal struct F64 : IFLoad, IFStore
{
    public static bool Load(X86Cpu c, ref Insn i, out Float80 v, ref int flags)
    {
        v = default;
        uint ea = c.Ea(ref i);
        if (!c.CheckSegment(i.Seg, ea, 8, false)) return false;
        if (!c.Read32(i.Seg, ea, out uint lo) || !c.Read32(i.Seg, ea + 4, out uint hi)) return false;
        v = SoftFloat.FromDouble(lo | (ulong)hi << 32, ref flags);
        return true;
    }
    public static int Size => 8;
    public static void Encode(X87 f, Float80 v, Span<byte> d, ref int flags)
        => BinaryPrimitives.WriteUInt64LittleEndian(d, SoftFloat.ToDouble(v, f.Rc, ref flags));
    public static void Indefinite(Span<byte> d) => BinaryPrimitives.WriteUInt64LittleEndian(d, 0xFFF8_0000_0000_0000);
}

internal struct F80 : IFLoad, IFStore
{
    public static bool Load(X86Cpu c, ref Insn i, out Float80 v, ref int flags)
    {
        v = default;
        uint ea = c.Ea(ref i);
        if (!c.CheckSegment(i.Seg, ea, 10, false)) return false;
        if (!c.Read32(i.Seg, ea, out uint lo) || !c.Read32(i.Seg, ea + 4, out uint hi) || !c.Read16(i.Seg, ea + 8, out uint se))
            return false;
        v = new Float80((ushort)se, lo | (ulong)hi << 32);
        return true;
    }
    public static int Size => 10;
    public static void Encode(X87 f, Float80 v, Span<byte> d, ref int flags)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(d, v.Mantissa);
        BinaryPrimitives.WriteUInt16LittleEndian(d[8..], v.SignExponent);
    }
    public static void Indefinite(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(d, Float80.Indefinite.Mantissa);
        BinaryPrimitives.WriteUInt16LittleEndian(d[8..], Float80.Indefinite.SignExponent);
    }
}

internal struct I16 : IFLoad, IFStore
{
    public static bool Load(X86Cpu c, ref Insn i, out Float80 v, ref int flags)
    {
        v = default;
        if (!c.Read16(i.Seg, c.Ea(ref i), out uint b)) return false;
        v = SoftFloat.FromInt64((short)b);
        return true;
    }
    public static int Size => 2;
    public static void Encode(X87 f, Float80 v, Span<byte> d, ref int flags)
    {
        if (!SoftFloat.ToInt(v, 16, f.Rc, ref flags, out long r)) r = short.MinValue;
        BinaryPrimitives.WriteInt16LittleEndian(d, (short)r);
    }
    public static void Indefinite(Span<byte> d) => BinaryPrimitives.WriteUInt16LittleEndian(d, 0x8000);
}

internal struct I32 : IFLoad, IFStore
{
    public static bool Load(X86Cpu c, ref Insn i, out Float80 v, ref int flags)
    {
        v = default;
        if (!c.Read32(i.Seg, c.Ea(ref i), out uint b)) return false;
        v = SoftFloat.FromInt64((int)b);
        return true;
    }
    public static int Size => 4;
    public static void Encode(X87 f, Float80 v, Span<byte> d, ref int flags)
    {
        if (!SoftFloat.ToInt(v, 32, f.Rc, ref flags, out long r)) r = int.MinValue;
        BinaryPrimitives.WriteInt32LittleEndian(d, (int)r);
    }
    public static void Indefinite(Span<byte> d) => BinaryPrimitives.WriteUInt32LittleEndian(d, 0x8000_0000);
}

internal struct I64 : IFLoad, IFStore
{
    public static bool Load(X86Cpu c, ref Insn i, out Float80 v, ref int flags)
    {
        v = default;
        uint ea = c.Ea(ref i);
        if (!c.CheckSegment(i.Seg, ea, 8, false)) return false;
        if (!c.Read32(i.Seg, ea, out uint lo) || !c.Read32(i.Seg, ea + 4, out uint hi)) return false;
        v = SoftFloat.FromInt64((long)(lo | (ulong)hi << 32));
        return true;
    }
    public static int Size => 8;
    public static void Encode(X87 f, Float80 v, Span<byte> d, ref int flags)
    {
        if (!SoftFloat.ToInt(v, 64, f.Rc, ref flags, out long r)) r = long.MinValue;
        BinaryPrimitives.WriteInt64LittleEndian(d, r);
    }
    public static void Indefinite(Span<byte> d) => BinaryPrimitives.WriteUInt64LittleEndian(d, 0x8000_0000_0000_0000);
}

internal struct Bcd80 : IFLoad, IFStore
{
    public static bool Load(X86Cpu c, ref Insn i, out Float80 v, ref int flags)
    {
        v = default;
        uint ea = c.Ea(ref i);
        if (!c.CheckSegment(i.Seg, ea, 10, false)) return false;
        Span<byte> b = stackalloc byte[10];
        for (int k = 0; k < 10; k++)
        {
            if (!c.Read8(i.Seg, ea + (uint)k, out uint x)) return false;
            b[k] = (byte)x;
        }
        v = SoftFloat.FromBcd(b);
        return true;
    }
    public static int Size => 10;
    public static void Encode(X87 f, Float80 v, Span<byte> d, ref int flags)
    {
        if (!SoftFloat.ToBcd(v, f.Rc, ref flags, d)) Indefinite(d);
    }
    public static void Indefinite(Span<byte> d)
    {
        d.Clear();
        d[7] = 0xC0; d[8] = 0xFF; d[9] = 0xFF;
    }
}

/// <summary>
/// x87 instruction handlers (SDM Vol. 2, F2XM1..FYL2XP1). Every one first checks CR0.EM/TS (#NM) and, for the
/// waiting forms, a pending unmasked exception (#MF with CR0.NE, else FERR#). Operand fields: Reg = ST(i),
/// Op = operation (0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr) or sub-kind, Imm = flags (destination ST(i),
/// pops), Imm2 = the FOP opcode recorded for FSTENV/FSAVE.
/// The transcendental instructions (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1) compute in
/// double precision and widen the result: they are accurate to about 1 ulp of a double, not to the 64-bit
/// significand of the hardware. Everything else is exact.
/// </summary>
internal static class FpuOps
{
    private static bool Begin(X86Cpu c, bool waits = true)
    {
        if ((c.cr0 & (X86Cpu.CR0_EM | X86Cpu.CR0_TS)) != 0) { c.SetPending(X86Cpu.VecNM, 0); return false; }
        if (waits && (c.X87.sw & X87.SwES) != 0)
        {
            if ((c.cr0 & X86Cpu.CR0_NE) != 0) { c.SetPending(X86Cpu.VecMF, 0); return false; }
            c.X87.SetFerr(true);
        }
        return true;
    }

    private static void Record(X86Cpu c, ref Insn i, bool memory)
    {
        var f = c.X87;
        f.fip = c.eip - i.Len;
        f.fcs = c.Seg(X86Cpu.CS).Selector;
        f.fop = i.Imm2;
        if (memory)
        {
            f.fdp = c.Ea(ref i);
            f.fds = c.Seg(i.Seg).Selector;
        }
    }

    /// <summary>Writes bytes to a memory operand after checking that all of them can be written.</summary>
    private static bool WriteMem(X86Cpu c, ref Insn i, uint ea, ReadOnlySpan<byte> data)
    {
        if (!c.CheckSegment(i.Seg, ea, data.Length, true)) return false;
        if (!c.ProbeWrite(c.Seg(i.Seg).Base + ea, data.Length)) return false;
        for (int k = 0; k < data.Length; k++) c.Write8(i.Seg, ea + (uint)k, data[k]);
        return true;
    }

    private static Float80 Arith(X87 f, int op, Float80 a, Float80 b, ref int fl)
    {
        int pc = f.Pc, rc = f.Rc;
        bool uo = f.OverflowUnmasked, uu = f.UnderflowUnmasked;
        return op switch
        {
            0 => SoftFloat.Add(a, b, false, pc, rc, ref fl, uo, uu),
            1 => SoftFloat.Mul(a, b, pc, rc, ref fl, uo, uu),
            4 => SoftFloat.Add(a, b, true, pc, rc, ref fl, uo, uu),
            5 => SoftFloat.Add(b, a, true, pc, rc, ref fl, uo, uu),
            6 => SoftFloat.Div(a, b, pc, rc, ref fl, uo, uu),
            _ => SoftFloat.Div(b, a, pc, rc, ref fl, uo, uu),
        };
    }

    // ---- arithmetic ---------------------------------------------------------------------------------------

    public static int ArithMem<L>(X86Cpu c, ref Insn i) where L : IFLoad
    {
        if (!Begin(c)) return X86Cpu.Fault;
        int fl = 0;
        if (!L.Load(c, ref i, out Float80 src, ref fl)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, true);
        if (f.IsEmpty(0)) { if (f.Underflow()) f.Set(0, Float80.Indefinite); return X86Cpu.Next; }
        var r = Arith(f, i.Op, f.ST(0), src, ref fl);
        if (f.Signal(fl)) f.Set(0, r);
        return X86Cpu.Next;
    }

    /// <summary>Register forms: Imm bit 0 = the destination is ST(i) (else ST(0)), bit 1 = pop.</summary>
    public static int ArithReg(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        int sti = i.Reg;
        bool toSti = (i.Imm & 1) != 0, pop = (i.Imm & 2) != 0;
        int dst = toSti ? sti : 0;
        if (f.IsEmpty(0) || f.IsEmpty(sti))
        {
            if (f.Underflow()) { f.Set(dst, Float80.Indefinite); if (pop) f.Pop(); }
            return X86Cpu.Next;
        }
        int fl = 0;
        var r = Arith(f, i.Op, f.ST(dst), f.ST(toSti ? 0 : sti), ref fl);
        if (f.Signal(fl)) { f.Set(dst, r); if (pop) f.Pop(); }
        return X86Cpu.Next;
    }

    // ---- comparisons --------------------------------------------------------------------------------------

    private static void SetCompare(X87 f, int r) => f.SetConditions(r switch
    {
        1 => 0,
        -1 => X87.SwC0,
        0 => X87.SwC3,
        _ => X87.SwC3 | X87.SwC2 | X87.SwC0,
    });

    /// <summary>FCOM/FCOMP/FICOM/FICOMP m: Imm = pops.</summary>
    public static int ComMem<L>(X86Cpu c, ref Insn i) where L : IFLoad
    {
        if (!Begin(c)) return X86Cpu.Fault;
        int fl = 0;
        if (!L.Load(c, ref i, out Float80 src, ref fl)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, true);
        if (f.IsEmpty(0))
        {
            if (f.Underflow()) { SetCompare(f, 2); if (i.Imm != 0) f.Pop(); }
            return X86Cpu.Next;
        }
        int r = SoftFloat.Compare(f.ST(0), src, false, ref fl);
        if (f.Signal(fl)) { SetCompare(f, r); if (i.Imm != 0) f.Pop(); }
        return X86Cpu.Next;
    }

    /// <summary>FCOM/FCOMP/FCOMPP/FUCOM/FUCOMP/FUCOMPP ST(i): Imm = pops, Op 1 = unordered compare.</summary>
    public static int ComReg(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        if (f.IsEmpty(0) || f.IsEmpty(i.Reg))
        {
            if (f.Underflow()) { SetCompare(f, 2); for (uint k = 0; k < i.Imm; k++) f.Pop(); }
            return X86Cpu.Next;
        }
        int fl = 0;
        int r = SoftFloat.Compare(f.ST(0), f.ST(i.Reg), i.Op != 0, ref fl);
        if (f.Signal(fl)) { SetCompare(f, r); for (uint k = 0; k < i.Imm; k++) f.Pop(); }
        return X86Cpu.Next;
    }

    /// <summary>FCOMI/FCOMIP/FUCOMI/FUCOMIP: the result in ZF, PF, CF (P6; SDM Vol. 2, FCOMI).</summary>
    public static int Comi(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        int r;
        int fl = 0;
        bool ok;
        if (f.IsEmpty(0) || f.IsEmpty(i.Reg)) { ok = f.Underflow(); r = 2; }
        else
        {
            r = SoftFloat.Compare(f.ST(0), f.ST(i.Reg), i.Op != 0, ref fl);
            ok = f.Signal(fl);
            f.sw &= unchecked((ushort)~X87.SwC1);
        }
        if (!ok) return X86Cpu.Next;
        uint flags = r switch { 1 => 0u, -1 => X86Cpu.FlagCF, 0 => X86Cpu.FlagZF, _ => X86Cpu.FlagZF | X86Cpu.FlagPF | X86Cpu.FlagCF };
        c.SetArithFlags(flags);
        if (i.Imm != 0) f.Pop();
        return X86Cpu.Next;
    }

    public static int Tst(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        if (f.IsEmpty(0)) { if (f.Underflow()) SetCompare(f, 2); return X86Cpu.Next; }
        int fl = 0;
        int r = SoftFloat.Compare(f.ST(0), Float80.Zero, false, ref fl);
        if (f.Signal(fl)) SetCompare(f, r);
        return X86Cpu.Next;
    }

    /// <summary>FXAM: C3 C2 C0 classify ST(0), C1 is its sign (SDM Vol. 2, FXAM).</summary>
    public static int Xam(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        var v = f.ST(0);
        int cc;
        if (f.IsEmpty(0)) cc = X87.SwC3 | X87.SwC0;
        else if (v.IsUnsupported) cc = 0;
        else if (v.IsNaN) cc = X87.SwC0;
        else if (v.IsInfinity) cc = X87.SwC2 | X87.SwC0;
        else if (v.IsZero) cc = X87.SwC3;
        else if (v.IsDenormal) cc = X87.SwC3 | X87.SwC2;
        else cc = X87.SwC2;
        if (v.Sign) cc |= X87.SwC1;
        f.SetConditions(cc);
        return X86Cpu.Next;
    }

    // ---- loads and stores ---------------------------------------------------------------------------------

    public static int LdMem<L>(X86Cpu c, ref Insn i) where L : IFLoad
    {
        if (!Begin(c)) return X86Cpu.Fault;
        int fl = 0;
        if (!L.Load(c, ref i, out Float80 v, ref fl)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, true);
        if (!f.IsEmpty(7)) { if (f.Overflow()) f.Push(Float80.Indefinite); return X86Cpu.Next; }
        if (f.Signal(fl)) f.Push(v);
        return X86Cpu.Next;
    }

    public static int LdReg(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        Float80 v;
        if (f.IsEmpty(i.Reg)) { if (!f.Underflow()) return X86Cpu.Next; v = Float80.Indefinite; }
        else v = f.ST(i.Reg);
        f.PushChecked(v);
        return X86Cpu.Next;
    }

    /// <summary>FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ (Op 0..6). The constants are kept to 66
    /// bits inside the processor and rounded by RC; the table holds the round-to-nearest value and which
    /// modes give the one below or above it.</summary>
    public static int LdConst(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        int rc = f.Rc;
        bool down = rc is SoftFloat.RcDown or SoftFloat.RcZero;
        Float80 v = i.Op switch
        {
            0 => Float80.One,
            1 => new Float80(0x4000, 0xD49A_784B_CD1B_8AFE + (rc == SoftFloat.RcUp ? 1UL : 0)),
            2 => new Float80(0x3FFF, 0xB8AA_3B29_5C17_F0BC - (down ? 1UL : 0)),
            3 => new Float80(0x4000, 0xC90F_DAA2_2168_C235 - (down ? 1UL : 0)),
            4 => new Float80(0x3FFD, 0x9A20_9A84_FBCF_F799 - (down ? 1UL : 0)),
            5 => new Float80(0x3FFE, 0xB172_17F7_D1CF_79AC - (down ? 1UL : 0)),
            _ => Float80.Zero,
        };
        f.sw &= unchecked((ushort)~X87.SwC1);
        f.PushChecked(v);
        return X86Cpu.Next;
    }

    /// <summary>FST/FSTP/FIST/FISTP/FBSTP m: Imm 1 = pop. Nothing changes if the write faults.</summary>
    public static int StMem<S>(X86Cpu c, ref Insn i) where S : IFStore
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Span<byte> buf = stackalloc byte[10];
        int fl = 0;
        bool stackFault = f.IsEmpty(0);
        if (stackFault)
        {
            if ((f.cw & FpuFlags.IE) == 0) { f.Underflow(); return X86Cpu.Next; }
            S.Indefinite(buf);
        }
        else
        {
            S.Encode(f, f.ST(0), buf, ref fl);
            if (f.SuppressesStore(fl)) { f.Signal(fl); return X86Cpu.Next; }
        }
        uint ea = c.Ea(ref i);
        if (!WriteMem(c, ref i, ea, buf[..S.Size])) return X86Cpu.Fault;
        Record(c, ref i, true);
        if (stackFault) f.Underflow(); else f.Signal(fl);
        if (i.Imm != 0) f.Pop();
        return X86Cpu.Next;
    }

    /// <summary>FST/FSTP ST(i): Imm 1 = pop.</summary>
    public static int StReg(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        if (f.IsEmpty(0))
        {
            if (f.Underflow()) { f.Set(i.Reg, Float80.Indefinite); if (i.Imm != 0) f.Pop(); }
            return X86Cpu.Next;
        }
        f.sw &= unchecked((ushort)~X87.SwC1);
        f.Set(i.Reg, f.ST(0));
        if (i.Imm != 0) f.Pop();
        return X86Cpu.Next;
    }

    public static int Xch(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        Float80 a = f.ST(0), b = f.ST(i.Reg);
        if (f.IsEmpty(0) || f.IsEmpty(i.Reg))
        {
            if (!f.Underflow()) return X86Cpu.Next;
            if (f.IsEmpty(0)) a = Float80.Indefinite;
            if (f.IsEmpty(i.Reg)) b = Float80.Indefinite;
        }
        else f.sw &= unchecked((ushort)~X87.SwC1);
        f.Set(0, b);
        f.Set(i.Reg, a);
        return X86Cpu.Next;
    }

    /// <summary>FCMOVcc ST(0), ST(i): Op is the integer condition code (B, E, BE, P and negations).</summary>
    public static int Cmov(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        if (f.IsEmpty(0) || f.IsEmpty(i.Reg))
        {
            if (f.Underflow()) f.Set(0, Float80.Indefinite);
            return X86Cpu.Next;
        }
        if (c.Condition(i.Op)) f.Set(0, f.ST(i.Reg));
        return X86Cpu.Next;
    }

    // ---- one-operand arithmetic on ST(0) ------------------------------------------------------------------

    /// <summary>FCHS (Op 0), FABS (Op 1), FSQRT (Op 2), FRNDINT (Op 3).</summary>
    public static int Unary(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        if (f.IsEmpty(0)) { if (f.Underflow()) f.Set(0, Float80.Indefinite); return X86Cpu.Next; }
        var v = f.ST(0);
        int fl = 0;
        Float80 r = i.Op switch
        {
            0 => v.Negate(),
            1 => v.Abs(),
            2 => SoftFloat.Sqrt(v, f.Pc, f.Rc, ref fl),
            _ => SoftFloat.RoundToInteger(v, f.Rc, ref fl),
        };
        if (f.Signal(fl)) f.Set(0, r);
        return X86Cpu.Next;
    }

    /// <summary>FSCALE (Op 0), FPREM (Op 1), FPREM1 (Op 2): ST(0) op ST(1).</summary>
    public static int Binary01(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        if (f.IsEmpty(0) || f.IsEmpty(1)) { if (f.Underflow()) f.Set(0, Float80.Indefinite); return X86Cpu.Next; }
        int fl = 0;
        if (i.Op == 0)
        {
            var r = SoftFloat.Scale(f.ST(0), f.ST(1), f.Pc, f.Rc, ref fl, f.OverflowUnmasked, f.UnderflowUnmasked);
            if (f.Signal(fl)) f.Set(0, r);
            return X86Cpu.Next;
        }
        var rem = SoftFloat.Remainder(f.ST(0), f.ST(1), i.Op == 2, ref fl, out int q, out bool complete);
        if (f.Signal(fl))
        {
            f.Set(0, rem);
            int cc = complete
                ? ((q & 4) != 0 ? X87.SwC0 : 0) | ((q & 2) != 0 ? X87.SwC3 : 0) | ((q & 1) != 0 ? X87.SwC1 : 0)
                : X87.SwC2;
            f.SetConditions(cc);
        }
        return X86Cpu.Next;
    }

    public static int Xtract(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        if (f.IsEmpty(0)) { if (f.Underflow()) { f.Set(0, Float80.Indefinite); f.PushChecked(Float80.Indefinite); } return X86Cpu.Next; }
        if (!f.IsEmpty(7)) { if (f.Overflow()) { f.Set(0, Float80.Indefinite); f.Push(Float80.Indefinite); } return X86Cpu.Next; }
        int fl = 0;
        var (e, s) = SoftFloat.Extract(f.ST(0), ref fl);
        if (f.Signal(fl)) { f.Set(0, e); f.Push(s); }
        return X86Cpu.Next;
    }

    // ---- transcendental functions (double precision, see the class comment) ------------------------------

    private static double D(Float80 v) => SoftFloat.ToDoubleApprox(v);
    private static Float80 W(double d) => SoftFloat.FromDoubleValue(d);

    /// <summary>e^y - 1 without cancellation (Kahan: (u - 1) * y / ln u with u = e^y).</summary>
    private static double ExpM1(double y)
    {
        double u = Math.Exp(y);
        if (u == 1.0) return y;
        double um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        return um1 * y / Math.Log(u);
    }

    /// <summary>ln(1 + x) without cancellation (Kahan: ln u * x / (u - 1) with u = 1 + x).</summary>
    private static double Log1P(double x)
    {
        double u = 1.0 + x;
        return u == 1.0 ? x : Math.Log(u) * x / (u - 1.0);
    }

    /// <summary>Operand in range for FSIN/FCOS/FSINCOS/FPTAN: |x| &lt; 2^63, else C2 = 1 and nothing changes.</summary>
    private static bool InTrigRange(X87 f, Float80 v)
    {
        if (v.Exponent - 16383 >= 63 && !v.IsNaN && v.Exponent != 0x7FFF)
        {
            f.sw |= X87.SwC2;
            return false;
        }
        f.sw &= unchecked((ushort)~X87.SwC2);
        return true;
    }

    /// <summary>FSIN (Op 0), FCOS (1), FSINCOS (2), FPTAN (3), F2XM1 (4).</summary>
    public static int Trig(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        bool pushes = i.Op is 2 or 3;
        if (f.IsEmpty(0))
        {
            if (f.Underflow()) { f.Set(0, Float80.Indefinite); if (pushes) f.PushChecked(Float80.Indefinite); }
            return X86Cpu.Next;
        }
        if (pushes && !f.IsEmpty(7))
        {
            if (f.Overflow()) { f.Set(0, Float80.Indefinite); f.Push(Float80.Indefinite); }
            return X86Cpu.Next;
        }
        var v = f.ST(0);
        int fl = 0;
        if (v.IsNaN || v.IsUnsupported)
        {
            var q = v.IsNaN ? SoftFloat.PropagateNaN(v, v, ref fl) : Float80.Indefinite;
            if (v.IsUnsupported) fl |= FpuFlags.IE;
            if (f.Signal(fl)) { f.Set(0, q); if (pushes) f.Push(q); }
            return X86Cpu.Next;
        }
        if (i.Op != 4 && v.IsInfinity)
        {
            if (f.Signal(FpuFlags.IE)) { f.Set(0, Float80.Indefinite); if (pushes) f.Push(Float80.Indefinite); }
            return X86Cpu.Next;
        }
        if (i.Op != 4 && !InTrigRange(f, v)) return X86Cpu.Next;
        if (v.IsDenormal) fl |= FpuFlags.DE;
        double x = D(v);
        if (!v.IsZero || i.Op is 1 or 2 or 3) fl |= FpuFlags.PE;
        switch (i.Op)
        {
            case 0: if (f.Signal(fl)) f.Set(0, v.IsZero ? v : W(Math.Sin(x))); break;
            case 1: if (f.Signal(fl)) f.Set(0, W(Math.Cos(x))); break;
            case 2: if (f.Signal(fl)) { f.Set(0, v.IsZero ? v : W(Math.Sin(x))); f.Push(W(Math.Cos(x))); } break;
            case 3: if (f.Signal(fl)) { f.Set(0, v.IsZero ? v : W(Math.Tan(x))); f.Push(Float80.One); } break;
            default:
                if (v.IsInfinity) { if (f.Signal(0)) f.Set(0, v.Sign ? Float80.One.Negate() : v); break; }
                if (f.Signal(v.IsZero ? 0 : fl)) f.Set(0, v.IsZero ? v : W(ExpM1(x * Math.Log(2))));
                break;
        }
        return X86Cpu.Next;
    }

    /// <summary>FPATAN (Op 0), FYL2X (1), FYL2XP1 (2): ST(1) = f(ST(1), ST(0)), then pop.</summary>
    public static int Log(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        if (f.IsEmpty(0) || f.IsEmpty(1))
        {
            if (f.Underflow()) { f.Set(1, Float80.Indefinite); f.Pop(); }
            return X86Cpu.Next;
        }
        Float80 x = f.ST(0), y = f.ST(1);
        int fl = 0;
        if (x.IsNaN || y.IsNaN)
        {
            var q = SoftFloat.PropagateNaN(x, y, ref fl);
            if (f.Signal(fl)) { f.Set(1, q); f.Pop(); }
            return X86Cpu.Next;
        }
        if (x.IsUnsupported || y.IsUnsupported)
        {
            if (f.Signal(FpuFlags.IE)) { f.Set(1, Float80.Indefinite); f.Pop(); }
            return X86Cpu.Next;
        }
        if (x.IsDenormal || y.IsDenormal) fl |= FpuFlags.DE;
        double dx = D(x), dy = D(y), r;
        switch (i.Op)
        {
            case 0:
                r = Math.Atan2(dy, dx);
                break;
            case 1:
                if (dx < 0 || (x.IsZero && y.IsZero) || (x.IsInfinity && y.IsZero) || (dx == 1 && y.IsInfinity))
                { fl |= FpuFlags.IE; r = double.NaN; break; }
                if (x.IsZero) { fl |= FpuFlags.ZE; r = dy > 0 ? double.NegativeInfinity : double.PositiveInfinity; break; }
                r = dy * Math.Log2(dx);
                break;
            default:
                if (dx <= -1) { fl |= FpuFlags.IE; r = double.NaN; break; }
                r = dy * Log1P(dx) / Math.Log(2);
                break;
        }
        if (!double.IsNaN(r) && !double.IsInfinity(r) && r != 0) fl |= FpuFlags.PE;
        if (f.Signal(fl)) { f.Set(1, double.IsNaN(r) ? Float80.Indefinite : W(r)); f.Pop(); }
        return X86Cpu.Next;
    }

    // ---- stack and control --------------------------------------------------------------------------------

    /// <summary>FINCSTP (Op 0), FDECSTP (Op 1), FFREE (Op 2), FFREEP (Op 3), FNOP and the 287 no-ops (Op 4).</summary>
    public static int StackOp(X86Cpu c, ref Insn i)
    {
        if (!Begin(c)) return X86Cpu.Fault;
        var f = c.X87;
        Record(c, ref i, false);
        switch (i.Op)
        {
            case 0: f.top = (f.top + 1) & 7; f.sw &= unchecked((ushort)~X87.SwC1); break;
            case 1: f.top = (f.top - 1) & 7; f.sw &= unchecked((ushort)~X87.SwC1); break;
            case 2: f.Free(i.Reg); break;
            case 3: f.Free(i.Reg); f.Pop(); break;
        }
        return X86Cpu.Next;
    }

    /// <summary>WAIT/FWAIT: #NM when CR0.MP and CR0.TS, then the pending-exception check.</summary>
    public static int Wait(X86Cpu c, ref Insn i)
    {
        if ((c.cr0 & (X86Cpu.CR0_MP | X86Cpu.CR0_TS)) == (X86Cpu.CR0_MP | X86Cpu.CR0_TS)) return c.RaiseFault(X86Cpu.VecNM);
        if ((c.X87.sw & X87.SwES) != 0)
        {
            if ((c.cr0 & X86Cpu.CR0_NE) != 0) return c.RaiseFault(X86Cpu.VecMF);
            c.X87.SetFerr(true);
        }
        return X86Cpu.Next;
    }

    /// <summary>The control instructions. Op: 0 FLDCW, 1 FSTCW, 2 FSTSW m, 3 FSTSW AX, 4 FCLEX, 5 FINIT.
    /// Imm bit 0: the waiting form (FSTCW rather than FNSTCW).</summary>
    public static int Control(X86Cpu c, ref Insn i)
    {
        bool waits = i.Op == 0 || (i.Imm & 1) != 0;
        if (!Begin(c, waits)) return X86Cpu.Fault;
        var f = c.X87;
        switch (i.Op)
        {
            case 0:
                if (!c.Read16(i.Seg, c.Ea(ref i), out uint cw)) return X86Cpu.Fault;
                f.LoadControl((ushort)cw);
                break;
            case 1:
                if (!c.Write16(i.Seg, c.Ea(ref i), f.cw)) return X86Cpu.Fault;
                break;
            case 2:
                if (!c.Write16(i.Seg, c.Ea(ref i), f.StatusWord)) return X86Cpu.Fault;
                break;
            case 3:
                c.R16(X86Cpu.EAX) = f.StatusWord;
                break;
            case 4:
                f.sw &= unchecked((ushort)~(0x3F | FpuFlags.SF | X87.SwES | X87.SwB));
                f.SetFerr(false);
                break;
            default:
                f.Init();
                break;
        }
        return X86Cpu.Next;
    }

    /// <summary>FSTENV/FNSTENV (Op 0), FLDENV (Op 1), FSAVE/FNSAVE (Op 2), FRSTOR (Op 3). Imm bit 0: waiting
    /// form; bit 1: 32-bit operand size. Layouts: SDM Vol. 1, Figures 8-9 to 8-12.</summary>
    public static int Env(X86Cpu c, ref Insn i)
    {
        bool waits = i.Op is 1 or 3 || (i.Imm & 1) != 0;
        if (!Begin(c, waits)) return X86Cpu.Fault;
        var f = c.X87;
        bool op32 = (i.Imm & 2) != 0;
        bool save = i.Op is 0 or 2, withRegs = i.Op >= 2;
        int envSize = op32 ? 28 : 14;
        int total = envSize + (withRegs ? 80 : 0);
        uint ea = c.Ea(ref i);
        Span<byte> buf = stackalloc byte[108];
        buf = buf[..total];
        if (save)
        {
            WriteEnv(c, f, buf, op32);
            if (withRegs)
                for (int k = 0; k < 8; k++)
                {
                    var v = f.ST(k);
                    BinaryPrimitives.WriteUInt64LittleEndian(buf[(envSize + 10 * k)..], v.Mantissa);
                    BinaryPrimitives.WriteUInt16LittleEndian(buf[(envSize + 10 * k + 8)..], v.SignExponent);
                }
            if (!WriteMem(c, ref i, ea, buf)) return X86Cpu.Fault;
            if (withRegs) f.Init();
            else f.cw |= 0x3F;                  // FSTENV masks all exceptions after storing
            return X86Cpu.Next;
        }
        if (!c.CheckSegment(i.Seg, ea, total, false)) return X86Cpu.Fault;
        for (int k = 0; k < total; k++)
        {
            if (!c.Read8(i.Seg, ea + (uint)k, out uint b)) return X86Cpu.Fault;
            buf[k] = (byte)b;
        }
        ReadEnv(c, f, buf, op32);
        if (withRegs)
            for (int k = 0; k < 8; k++)
            {
                ulong m = BinaryPrimitives.ReadUInt64LittleEndian(buf[(envSize + 10 * k)..]);
                ushort se = BinaryPrimitives.ReadUInt16LittleEndian(buf[(envSize + 10 * k + 8)..]);
                f.regs[(f.top + k) & 7] = new Float80(se, m);
            }
        return X86Cpu.Next;
    }

    private static void WriteEnv(X86Cpu c, X87 f, Span<byte> b, bool op32)
    {
        bool pm = c.ProtectedMode;
        if (op32)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b, 0xFFFF_0000u | f.cw);
            BinaryPrimitives.WriteUInt32LittleEndian(b[4..], 0xFFFF_0000u | f.StatusWord);
            BinaryPrimitives.WriteUInt32LittleEndian(b[8..], 0xFFFF_0000u | f.TagWord);
            if (pm)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(b[12..], f.fip);
                BinaryPrimitives.WriteUInt32LittleEndian(b[16..], f.fcs | (uint)(f.fop & 0x7FF) << 16);
                BinaryPrimitives.WriteUInt32LittleEndian(b[20..], f.fdp);
                BinaryPrimitives.WriteUInt32LittleEndian(b[24..], 0xFFFF_0000u | f.fds);
            }
            else
            {
                uint ip = f.fip + ((uint)f.fcs << 4), dp = f.fdp + ((uint)f.fds << 4);
                BinaryPrimitives.WriteUInt32LittleEndian(b[12..], 0xFFFF_0000u | (ip & 0xFFFF));
                BinaryPrimitives.WriteUInt32LittleEndian(b[16..], (ip >> 16) << 12 | (uint)(f.fop & 0x7FF));
                BinaryPrimitives.WriteUInt32LittleEndian(b[20..], 0xFFFF_0000u | (dp & 0xFFFF));
                BinaryPrimitives.WriteUInt32LittleEndian(b[24..], (dp >> 16) << 12);
            }
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b, f.cw);
            BinaryPrimitives.WriteUInt16LittleEndian(b[2..], f.StatusWord);
            BinaryPrimitives.WriteUInt16LittleEndian(b[4..], f.TagWord);
            if (pm)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(b[6..], (ushort)f.fip);
                BinaryPrimitives.WriteUInt16LittleEndian(b[8..], f.fcs);
                BinaryPrimitives.WriteUInt16LittleEndian(b[10..], (ushort)f.fdp);
                BinaryPrimitives.WriteUInt16LittleEndian(b[12..], f.fds);
            }
            else
            {
                uint ip = f.fip + ((uint)f.fcs << 4), dp = f.fdp + ((uint)f.fds << 4);
                BinaryPrimitives.WriteUInt16LittleEndian(b[6..], (ushort)ip);
                BinaryPrimitives.WriteUInt16LittleEndian(b[8..], (ushort)((ip >> 16) << 12 | (uint)(f.fop & 0x7FF)));
                BinaryPrimitives.WriteUInt16LittleEndian(b[10..], (ushort)dp);
                BinaryPrimitives.WriteUInt16LittleEndian(b[12..], (ushort)((dp >> 16) << 12));
            }
        }
    }

    private static void ReadEnv(X86Cpu c, X87 f, ReadOnlySpan<byte> b, bool op32)
    {
        bool pm = c.ProtectedMode;
        ushort cw, sw, tw;
        if (op32)
        {
            cw = BinaryPrimitives.ReadUInt16LittleEndian(b);
            sw = BinaryPrimitives.ReadUInt16LittleEndian(b[4..]);
            tw = BinaryPrimitives.ReadUInt16LittleEndian(b[8..]);
            if (pm)
            {
                f.fip = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]);
                uint w = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]);
                f.fcs = (ushort)w; f.fop = (ushort)((w >> 16) & 0x7FF);
                f.fdp = BinaryPrimitives.ReadUInt32LittleEndian(b[20..]);
                f.fds = BinaryPrimitives.ReadUInt16LittleEndian(b[24..]);
            }
            else
            {
                uint w = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]);
                f.fip = (BinaryPrimitives.ReadUInt32LittleEndian(b[12..]) & 0xFFFF) | ((w >> 12) << 16);
                f.fop = (ushort)(w & 0x7FF);
                f.fdp = (BinaryPrimitives.ReadUInt32LittleEndian(b[20..]) & 0xFFFF) | ((BinaryPrimitives.ReadUInt32LittleEndian(b[24..]) >> 12) << 16);
                f.fcs = f.fds = 0;
            }
        }
        else
        {
            cw = BinaryPrimitives.ReadUInt16LittleEndian(b);
            sw = BinaryPrimitives.ReadUInt16LittleEndian(b[2..]);
            tw = BinaryPrimitives.ReadUInt16LittleEndian(b[4..]);
            if (pm)
            {
                f.fip = BinaryPrimitives.ReadUInt16LittleEndian(b[6..]);
                f.fcs = BinaryPrimitives.ReadUInt16LittleEndian(b[8..]);
                f.fdp = BinaryPrimitives.ReadUInt16LittleEndian(b[10..]);
                f.fds = BinaryPrimitives.ReadUInt16LittleEndian(b[12..]);
            }
            else
            {
                ushort w = BinaryPrimitives.ReadUInt16LittleEndian(b[8..]);
                f.fip = BinaryPrimitives.ReadUInt16LittleEndian(b[6..]) | (uint)(w >> 12) << 16;
                f.fop = (ushort)(w & 0x7FF);
                f.fdp = BinaryPrimitives.ReadUInt16LittleEndian(b[10..]) | (uint)(BinaryPrimitives.ReadUInt16LittleEndian(b[12..]) >> 12) << 16;
                f.fcs = f.fds = 0;
            }
        }
        f.cw = (ushort)((cw & 0x1F3F) | 0x40);
        f.LoadStatus(sw);
        f.LoadTags(tw);
    }
}
