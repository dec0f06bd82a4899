using System.Numerics;

namespace Emulator.Cpu.Exec;

/// <summary>BT, BTS, BTR, BTC, BSF, BSR (SDM Vol. 2). With a register bit offset and a memory operand the
/// offset is signed and selects the word or doubleword that holds the bit.</summary>
internal static class BitOps
{
    /// <summary>Op: 0 BT, 1 BTS, 2 BTR, 3 BTC.</summary>
    private static uint Apply(int op, uint v, int bit, out bool changed)
    {
        uint m = 1u << bit;
        uint r = op switch { 1 => v | m, 2 => v & ~m, 3 => v ^ m, _ => v };
        changed = op != 0;
        return r;
    }

    /// <summary>Register operand; Reg is the operand, the bit offset is Rm (a register) or Imm when Rm = 0xFF.</summary>
    public static int R<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint off = i.Rm == 0xFF ? i.Imm : W.Get(c, i.Rm);
        int bit = (int)(off & (uint)(W.Bits - 1));
        uint v = W.Get(c, i.Reg);
        c.SetCF((v >> bit) & 1);
        uint r = Apply(i.Op, v, bit, out bool changed);
        if (changed) W.Set(c, i.Reg, r);
        return X86Cpu.Next;
    }

    public static int M<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint ea = c.Ea(ref i);
        int bit;
        if (i.Rm == 0xFF) bit = (int)(i.Imm & (uint)(W.Bits - 1));
        else
        {
            int off = (int)X86Cpu.SignExtend<W>(W.Get(c, i.Rm));
            int unit = W.Bits / 8;
            ea = (uint)(ea + (off >> (W.Bits == 16 ? 4 : 5)) * unit) & i.AddrMask;
            bit = off & (W.Bits - 1);
        }
        uint v, lin = 0;
        if (i.Op == 0) { if (!W.Read(c, i.Seg, ea, out v)) return X86Cpu.Fault; }
        else if (!c.RmwBegin<W>(i.Seg, ea, out lin, out v)) return X86Cpu.Fault;
        c.SetCF((v >> bit) & 1);
        uint r = Apply(i.Op, v, bit, out bool changed);
        if (changed) c.RmwEnd<W>(lin, r);
        return X86Cpu.Next;
    }

    /// <summary>BSF (Op 0) / BSR (Op 1): ZF = source is zero, in which case the destination is unchanged.</summary>
    public static int Scan<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint s;
        if (i.Seg == 0xFF) s = W.Get(c, i.Rm);
        else if (!W.Read(c, i.Seg, c.Ea(ref i), out s)) return X86Cpu.Fault;
        uint f = c.GetEflags() & ~X86Cpu.FlagZF;
        if (s == 0) { c.SetArithFlags(f | X86Cpu.FlagZF); return X86Cpu.Next; }
        uint idx = i.Op == 0 ? (uint)BitOperations.TrailingZeroCount(s) : (uint)(31 - BitOperations.LeadingZeroCount(s));
        W.Set(c, i.Reg, idx);
        c.SetArithFlags(f);
        return X86Cpu.Next;
    }
}
