using System.Runtime.CompilerServices;

namespace Emulator.Cpu.Exec;

/// <summary>A shift or rotate as a type. Count is already masked to 5 bits and nonzero.</summary>
internal interface IShift { static abstract uint Do<W>(X86Cpu c, uint a, uint n) where W : IWidth; }

/// <summary>
/// ROL ROR RCL RCR SHL SHR SAR SHLD SHRD (SDM Vol. 2). The count is masked to 5 bits; a zero count changes
/// nothing. Flags Intel leaves undefined (OF for counts above 1, AF) get the values the formulas give.
/// </summary>
internal struct OpRol : IShift
{
    public static uint Do<W>(X86Cpu c, uint a, uint n) where W : IWidth
    {
        int s = (int)(n & (uint)(W.Bits - 1));
        uint r = s == 0 ? a : ((a << s) | (a >> (W.Bits - s))) & W.Mask;
        uint cf = r & 1;
        c.SetCFOF(cf, (r >> (W.Bits - 1)) ^ cf);
        return r;
    }
}
internal struct OpRor : IShift
{
    public static uint Do<W>(X86Cpu c, uint a, uint n) where W : IWidth
    {
        int s = (int)(n & (uint)(W.Bits - 1));
        uint r = s == 0 ? a : ((a >> s) | (a << (W.Bits - s))) & W.Mask;
        uint msb = r >> (W.Bits - 1);
        c.SetCFOF(msb, msb ^ ((r >> (W.Bits - 2)) & 1));
        return r;
    }
}
internal struct OpRcl : IShift
{
    public static uint Do<W>(X86Cpu c, uint a, uint n) where W : IWidth
    {
        int s = W.Bits == 32 ? (int)n : (int)(n % (uint)(W.Bits + 1));
        if (s == 0) return a;
        ulong v = (ulong)c.CFv << W.Bits | a;             // a (bits+1)-bit quantity
        int width = W.Bits + 1;
        v = ((v << s) | (v >> (width - s))) & ((1UL << width) - 1);
        uint r = (uint)v & W.Mask;
        uint cf = (uint)(v >> W.Bits) & 1;
        c.SetCFOF(cf, (r >> (W.Bits - 1)) ^ cf);
        return r;
    }
}
internal struct OpRcr : IShift
{
    public static uint Do<W>(X86Cpu c, uint a, uint n) where W : IWidth
    {
        int s = W.Bits == 32 ? (int)n : (int)(n % (uint)(W.Bits + 1));
        if (s == 0) return a;
        ulong v = (ulong)c.CFv << W.Bits | a;
        int width = W.Bits + 1;
        v = ((v >> s) | (v << (width - s))) & ((1UL << width) - 1);
        uint r = (uint)v & W.Mask;
        uint cf = (uint)(v >> W.Bits) & 1;
        c.SetCFOF(cf, ((r >> (W.Bits - 1)) ^ (r >> (W.Bits - 2))) & 1);
        return r;
    }
}
internal struct OpShl : IShift
{
    public static uint Do<W>(X86Cpu c, uint a, uint n) where W : IWidth
    {
        ulong v = (ulong)a << (int)n;
        uint r = (uint)v & W.Mask;
        uint cf = (uint)(v >> W.Bits) & 1;
        c.FlagsExplicit<W>(r, cf, (r >> (W.Bits - 1)) ^ cf, 0);
        return r;
    }
}
internal struct OpShr : IShift
{
    public static uint Do<W>(X86Cpu c, uint a, uint n) where W : IWidth
    {
        uint r = (uint)((ulong)a >> (int)n);
        uint cf = (uint)((ulong)a >> (int)(n - 1)) & 1;
        c.FlagsExplicit<W>(r, cf, ((r << 1) ^ r) >> (W.Bits - 1) & 1, 0);
        return r;
    }
}
internal struct OpSar : IShift
{
    public static uint Do<W>(X86Cpu c, uint a, uint n) where W : IWidth
    {
        int sa = (int)X86Cpu.SignExtend<W>(a);
        uint r = (uint)(sa >> (int)n) & W.Mask;
        uint cf = (uint)(sa >> (int)(n - 1)) & 1;
        c.FlagsExplicit<W>(r, cf, 0, 0);
        return r;
    }
}

internal static class Shift
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Count(X86Cpu c, ref Insn i) => (i.Op != 0 ? c.R8(4) : i.Imm) & 31;   // Op 1: count in CL

    public static int R<T, W>(X86Cpu c, ref Insn i) where T : IShift where W : IWidth
    {
        uint n = Count(c, ref i);
        if (n != 0) W.Set(c, i.Reg, T.Do<W>(c, W.Get(c, i.Reg), n));
        return X86Cpu.Next;
    }

    public static int M<T, W>(X86Cpu c, ref Insn i) where T : IShift where W : IWidth
    {
        uint n = Count(c, ref i);
        if (!c.RmwBegin<W>(i.Seg, c.Ea(ref i), out uint lin, out uint a)) return X86Cpu.Fault;
        if (n != 0) c.RmwEnd<W>(lin, T.Do<W>(c, a, n));
        return X86Cpu.Next;
    }

    /// <summary>SHLD/SHRD core (Op bit 1: right). For 16-bit counts above 16 the result is undefined; the
    /// destination:source:destination pattern is used, as P6 parts do.</summary>
    private static uint Double<W>(X86Cpu c, uint dst, uint src, uint n, bool right) where W : IWidth
    {
        int bits = W.Bits;
        uint r, cf;
        if (!right)
        {
            ulong v = bits == 32 ? (ulong)dst << 32 | src : (ulong)dst << 32 | (ulong)src << 16 | dst;
            int top = bits == 32 ? 64 : 48;
            r = (uint)(v >> (top - bits - (int)n)) & W.Mask;
            cf = (uint)(v >> (top - (int)n)) & 1;
        }
        else
        {
            ulong v = bits == 32 ? (ulong)src << 32 | dst : (ulong)dst << 32 | (ulong)src << 16 | dst;
            r = (uint)(v >> (int)n) & W.Mask;
            cf = (uint)(v >> ((int)n - 1)) & 1;
        }
        uint of = ((r ^ dst) >> (bits - 1)) & 1;
        c.FlagsExplicit<W>(r, cf, of, 0);
        return r;
    }

    /// <summary>SHLD/SHRD r/m, r, imm8/CL: Reg is the destination register (register form), Rm the source;
    /// Op bit 0 selects CL as the count, bit 1 a right shift.</summary>
    public static int DoubleR<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint n = ((i.Op & 1) != 0 ? c.R8(4) : i.Imm) & 31;
        if (n != 0) W.Set(c, i.Reg, Double<W>(c, W.Get(c, i.Reg), W.Get(c, i.Rm), n, (i.Op & 2) != 0));
        return X86Cpu.Next;
    }

    /// <summary>Memory form: the source register is in Reg.</summary>
    public static int DoubleM<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint n = ((i.Op & 1) != 0 ? c.R8(4) : i.Imm) & 31;
        if (!c.RmwBegin<W>(i.Seg, c.Ea(ref i), out uint lin, out uint a)) return X86Cpu.Fault;
        if (n != 0) c.RmwEnd<W>(lin, Double<W>(c, a, W.Get(c, i.Reg), n, (i.Op & 2) != 0));
        return X86Cpu.Next;
    }
}
