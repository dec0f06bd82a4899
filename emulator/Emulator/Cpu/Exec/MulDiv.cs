namespace Emulator.Cpu.Exec;

/// <summary>
/// MUL, IMUL (one, two and three operands), DIV, IDIV (SDM Vol. 2). After MUL/IMUL, CF = OF = "the upper
/// half is significant"; SF, ZF, PF and AF are undefined and follow the low half of the result here.
/// DIV/IDIV leave all flags undefined and unchanged here; a zero divisor or a quotient that does not fit
/// raises #DE before anything is written.
/// </summary>
internal static class MulDiv
{
    private static bool Src<W>(X86Cpu c, ref Insn i, out uint v) where W : IWidth
    {
        if (i.Seg == 0xFF) { v = W.Get(c, i.Rm); return true; }
        return W.Read(c, i.Seg, c.Ea(ref i), out v);
    }

    public static int Mul<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!Src<W>(c, ref i, out uint s)) return X86Cpu.Fault;
        uint of;
        if (W.Bits == 8)
        {
            uint r = (uint)c.R8(0) * s;
            c.R16(0) = (ushort)r;
            of = r > 0xFF ? 1u : 0;
            c.FlagsExplicit<W>(r & 0xFF, of, of, 0);
        }
        else if (W.Bits == 16)
        {
            uint r = (uint)c.R16(0) * s;
            c.R16(0) = (ushort)r;
            c.R16(X86Cpu.EDX) = (ushort)(r >> 16);
            of = r > 0xFFFF ? 1u : 0;
            c.FlagsExplicit<W>(r & 0xFFFF, of, of, 0);
        }
        else
        {
            ulong r = (ulong)c.R(0) * s;
            c.R(0) = (uint)r;
            c.R(X86Cpu.EDX) = (uint)(r >> 32);
            of = (r >> 32) != 0 ? 1u : 0;
            c.FlagsExplicit<W>((uint)r, of, of, 0);
        }
        return X86Cpu.Next;
    }

    public static int Imul1<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!Src<W>(c, ref i, out uint s)) return X86Cpu.Fault;
        uint of;
        if (W.Bits == 8)
        {
            int r = (sbyte)c.R8(0) * (sbyte)(byte)s;
            c.R16(0) = (ushort)r;
            of = r != (sbyte)r ? 1u : 0;
            c.FlagsExplicit<W>((uint)r & 0xFF, of, of, 0);
        }
        else if (W.Bits == 16)
        {
            int r = (short)c.R16(0) * (short)(ushort)s;
            c.R16(0) = (ushort)r;
            c.R16(X86Cpu.EDX) = (ushort)(r >> 16);
            of = r != (short)r ? 1u : 0;
            c.FlagsExplicit<W>((uint)r & 0xFFFF, of, of, 0);
        }
        else
        {
            long r = (long)(int)c.R(0) * (int)s;
            c.R(0) = (uint)r;
            c.R(X86Cpu.EDX) = (uint)((ulong)r >> 32);
            of = r != (int)r ? 1u : 0;
            c.FlagsExplicit<W>((uint)r, of, of, 0);
        }
        return X86Cpu.Next;
    }

    /// <summary>IMUL r, r/m [, imm]: Reg = destination; the second factor is Imm when Op = 1, else Reg itself.</summary>
    public static int ImulN<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!Src<W>(c, ref i, out uint s)) return X86Cpu.Fault;
        uint other = i.Op != 0 ? i.Imm : W.Get(c, i.Reg);
        long r = (long)(int)X86Cpu.SignExtend<W>(s) * (int)X86Cpu.SignExtend<W>(other);
        uint low = (uint)r & W.Mask;
        uint of = r != (int)X86Cpu.SignExtend<W>(low) ? 1u : 0;
        W.Set(c, i.Reg, low);
        c.FlagsExplicit<W>(low, of, of, 0);
        return X86Cpu.Next;
    }

    public static int Div<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!Src<W>(c, ref i, out uint s)) return X86Cpu.Fault;
        if (s == 0) return c.RaiseFault(X86Cpu.VecDE);
        if (W.Bits == 8)
        {
            uint n = c.R16(0);
            uint q = n / s;
            if (q > 0xFF) return c.RaiseFault(X86Cpu.VecDE);
            c.R8(0) = (byte)q;
            c.R8(1) = (byte)(n % s);
        }
        else if (W.Bits == 16)
        {
            uint n = (uint)c.R16(X86Cpu.EDX) << 16 | c.R16(0);
            uint q = n / s;
            if (q > 0xFFFF) return c.RaiseFault(X86Cpu.VecDE);
            c.R16(0) = (ushort)q;
            c.R16(X86Cpu.EDX) = (ushort)(n % s);
        }
        else
        {
            ulong n = (ulong)c.R(X86Cpu.EDX) << 32 | c.R(0);
            ulong q = n / s;
            if (q > 0xFFFF_FFFF) return c.RaiseFault(X86Cpu.VecDE);
            c.R(0) = (uint)q;
            c.R(X86Cpu.EDX) = (uint)(n % s);
        }
        return X86Cpu.Next;
    }

    public static int Idiv<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!Src<W>(c, ref i, out uint s)) return X86Cpu.Fault;
        if (s == 0) return c.RaiseFault(X86Cpu.VecDE);
        if (W.Bits == 8)
        {
            int n = (short)c.R16(0), d = (sbyte)(byte)s;
            int q = n / d;
            if (q != (sbyte)q) return c.RaiseFault(X86Cpu.VecDE);
            c.R8(0) = (byte)q;
            c.R8(1) = (byte)(n % d);
        }
        else if (W.Bits == 16)
        {
            int n = (int)((uint)c.R16(X86Cpu.EDX) << 16 | c.R16(0)), d = (short)(ushort)s;
            if (n == int.MinValue && d == -1) return c.RaiseFault(X86Cpu.VecDE);
            int q = n / d;
            if (q != (short)q) return c.RaiseFault(X86Cpu.VecDE);
            c.R16(0) = (ushort)q;
            c.R16(X86Cpu.EDX) = (ushort)(n % d);
        }
        else
        {
            long n = (long)((ulong)c.R(X86Cpu.EDX) << 32 | c.R(0)), d = (int)s;
            if (n == long.MinValue && d == -1) return c.RaiseFault(X86Cpu.VecDE);
            long q = n / d;
            if (q != (int)q) return c.RaiseFault(X86Cpu.VecDE);
            c.R(0) = (uint)q;
            c.R(X86Cpu.EDX) = (uint)(n % d);
        }
        return X86Cpu.Next;
    }
}
