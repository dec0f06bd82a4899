namespace Emulator.Cpu.Exec;

/// <summary>DAA, DAS, AAA, AAS, AAM, AAD as the SDM's pseudocode gives them (Vol. 2). Flags the SDM calls
/// undefined follow the result (SF/ZF/PF) or are cleared (OF).</summary>
internal static class Bcd
{
    public static int Daa(X86Cpu c, ref Insn i)
    {
        uint al = c.R8(0), oldAl = al, oldCf = c.CFv, cf = 0, af;
        if ((al & 0xF) > 9 || c.AFv != 0) { cf = oldCf | (al + 6 > 0xFF ? 1u : 0); al = (al + 6) & 0xFF; af = 1; }
        else af = 0;
        if (oldAl > 0x99 || oldCf != 0) { al = (al + 0x60) & 0xFF; cf = 1; }
        else cf = 0;
        c.R8(0) = (byte)al;
        c.FlagsExplicit<W8>(al, cf, 0, af);
        return X86Cpu.Next;
    }

    public static int Das(X86Cpu c, ref Insn i)
    {
        uint al = c.R8(0), oldAl = al, oldCf = c.CFv, cf = 0, af;
        if ((al & 0xF) > 9 || c.AFv != 0) { cf = oldCf | (al < 6 ? 1u : 0); al = (al - 6) & 0xFF; af = 1; }
        else af = 0;
        if (oldAl > 0x99 || oldCf != 0) { al = (al - 0x60) & 0xFF; cf = 1; }
        c.R8(0) = (byte)al;
        c.FlagsExplicit<W8>(al, cf, 0, af);
        return X86Cpu.Next;
    }

    public static int Aaa(X86Cpu c, ref Insn i)
    {
        uint af;
        if ((c.R8(0) & 0xF) > 9 || c.AFv != 0) { c.R16(0) = (ushort)(c.R16(0) + 0x106); af = 1; }
        else af = 0;
        c.R8(0) &= 0xF;
        c.FlagsExplicit<W8>(c.R8(0), af, 0, af);
        return X86Cpu.Next;
    }

    public static int Aas(X86Cpu c, ref Insn i)
    {
        uint af;
        if ((c.R8(0) & 0xF) > 9 || c.AFv != 0)
        {
            c.R16(0) = (ushort)(c.R16(0) - 6);
            c.R8(1) = (byte)(c.R8(1) - 1);
            af = 1;
        }
        else af = 0;
        c.R8(0) &= 0xF;
        c.FlagsExplicit<W8>(c.R8(0), af, 0, af);
        return X86Cpu.Next;
    }

    public static int Aam(X86Cpu c, ref Insn i)
    {
        uint b = i.Imm & 0xFF;
        if (b == 0) return c.RaiseFault(X86Cpu.VecDE);
        uint al = c.R8(0);
        c.R8(1) = (byte)(al / b);
        c.R8(0) = (byte)(al % b);
        c.FlagsLogic<W8>(c.R8(0));
        return X86Cpu.Next;
    }

    public static int Aad(X86Cpu c, ref Insn i)
    {
        uint b = i.Imm & 0xFF;
        uint prod = (c.R8(1) * b) & 0xFF, al = c.R8(0);
        uint r = (al + prod) & 0xFF;
        c.R16(0) = (ushort)r;
        c.FlagsAdd<W8>(al, prod, r);
        return X86Cpu.Next;
    }
}
