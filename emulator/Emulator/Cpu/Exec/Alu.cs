using System.Runtime.CompilerServices;

namespace Emulator.Cpu.Exec;

/// <summary>A two-operand ALU operation as a type; <see cref="Store"/> is false for CMP and TEST.</summary>
internal interface IAlu
{
    static abstract uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth;
    static abstract bool Store { get; }
}

internal struct OpAdd : IAlu
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth { uint r = (a + b) & W.Mask; c.FlagsAdd<W>(a, b, r); return r; }
}
internal struct OpOr : IAlu
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth { uint r = a | b; c.FlagsLogic<W>(r); return r; }
}
internal struct OpAdc : IAlu
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth { uint r = (a + b + c.CFv) & W.Mask; c.FlagsAdd<W>(a, b, r); return r; }
}
internal struct OpSbb : IAlu
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth { uint r = (a - b - c.CFv) & W.Mask; c.FlagsSub<W>(a, b, r); return r; }
}
internal struct OpAnd : IAlu
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth { uint r = a & b; c.FlagsLogic<W>(r); return r; }
}
internal struct OpSub : IAlu
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth { uint r = (a - b) & W.Mask; c.FlagsSub<W>(a, b, r); return r; }
}
internal struct OpXor : IAlu
{
    public static bool Store => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth { uint r = a ^ b; c.FlagsLogic<W>(r); return r; }
}
internal struct OpCmp : IAlu
{
    public static bool Store => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth { uint r = (a - b) & W.Mask; c.FlagsSub<W>(a, b, r); return r; }
}
internal struct OpTest : IAlu
{
    public static bool Store => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Do<W>(X86Cpu c, uint a, uint b) where W : IWidth { uint r = a & b; c.FlagsLogic<W>(r); return r; }
}

/// <summary>One-operand operations: NOT, NEG, INC, DEC.</summary>
internal interface IUnary { static abstract uint Do<W>(X86Cpu c, uint a) where W : IWidth; }
internal struct OpNot : IUnary { public static uint Do<W>(X86Cpu c, uint a) where W : IWidth => ~a & W.Mask; }
internal struct OpNeg : IUnary
{
    public static uint Do<W>(X86Cpu c, uint a) where W : IWidth { uint r = (0 - a) & W.Mask; c.FlagsSub<W>(0, a, r); return r; }
}
internal struct OpInc : IUnary
{
    public static uint Do<W>(X86Cpu c, uint a) where W : IWidth { uint r = (a + 1) & W.Mask; c.FlagsIncDec<W>(a, r, false); return r; }
}
internal struct OpDec : IUnary
{
    public static uint Do<W>(X86Cpu c, uint a) where W : IWidth { uint r = (a - 1) & W.Mask; c.FlagsIncDec<W>(a, r, true); return r; }
}

/// <summary>
/// ADD OR ADC SBB AND SUB XOR CMP TEST NOT NEG INC DEC (SDM Vol. 2). Operand roles, fixed by the translator:
/// register destination in Reg, register source in Rm; memory operand from the ModRM fields; immediate in Imm.
/// </summary>
internal static class Alu
{
    public static int RR<T, W>(X86Cpu c, ref Insn i) where T : IAlu where W : IWidth
    {
        uint r = T.Do<W>(c, W.Get(c, i.Reg), W.Get(c, i.Rm));
        if (T.Store) W.Set(c, i.Reg, r);
        return X86Cpu.Next;
    }

    public static int RI<T, W>(X86Cpu c, ref Insn i) where T : IAlu where W : IWidth
    {
        uint r = T.Do<W>(c, W.Get(c, i.Reg), i.Imm);
        if (T.Store) W.Set(c, i.Reg, r);
        return X86Cpu.Next;
    }

    public static int RM<T, W>(X86Cpu c, ref Insn i) where T : IAlu where W : IWidth
    {
        if (!W.Read(c, i.Seg, c.Ea(ref i), out uint b)) return X86Cpu.Fault;
        uint r = T.Do<W>(c, W.Get(c, i.Reg), b);
        if (T.Store) W.Set(c, i.Reg, r);
        return X86Cpu.Next;
    }

    public static int MR<T, W>(X86Cpu c, ref Insn i) where T : IAlu where W : IWidth
    {
        uint ea = c.Ea(ref i);
        if (T.Store)
        {
            if (!c.RmwBegin<W>(i.Seg, ea, out uint lin, out uint a)) return X86Cpu.Fault;
            c.RmwEnd<W>(lin, T.Do<W>(c, a, W.Get(c, i.Reg)));
        }
        else
        {
            if (!W.Read(c, i.Seg, ea, out uint a)) return X86Cpu.Fault;
            T.Do<W>(c, a, W.Get(c, i.Reg));
        }
        return X86Cpu.Next;
    }

    public static int MI<T, W>(X86Cpu c, ref Insn i) where T : IAlu where W : IWidth
    {
        uint ea = c.Ea(ref i);
        if (T.Store)
        {
            if (!c.RmwBegin<W>(i.Seg, ea, out uint lin, out uint a)) return X86Cpu.Fault;
            c.RmwEnd<W>(lin, T.Do<W>(c, a, i.Imm));
        }
        else
        {
            if (!W.Read(c, i.Seg, ea, out uint a)) return X86Cpu.Fault;
            T.Do<W>(c, a, i.Imm);
        }
        return X86Cpu.Next;
    }

    public static int UnR<T, W>(X86Cpu c, ref Insn i) where T : IUnary where W : IWidth
    {
        W.Set(c, i.Reg, T.Do<W>(c, W.Get(c, i.Reg)));
        return X86Cpu.Next;
    }

    public static int UnM<T, W>(X86Cpu c, ref Insn i) where T : IUnary where W : IWidth
    {
        if (!c.RmwBegin<W>(i.Seg, c.Ea(ref i), out uint lin, out uint a)) return X86Cpu.Fault;
        c.RmwEnd<W>(lin, T.Do<W>(c, a));
        return X86Cpu.Next;
    }
}
