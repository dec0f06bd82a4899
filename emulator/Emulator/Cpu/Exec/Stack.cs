namespace Emulator.Cpu.Exec;

/// <summary>PUSH, POP, PUSHA, POPA, PUSHF, POPF, ENTER, LEAVE (SDM Vol. 2). W is the operand size.</summary>
internal static class Stack
{
    public static int PushR<W>(X86Cpu c, ref Insn i) where W : IWidth
        => (W.Bits == 32 ? c.Push32(c.R(i.Reg)) : c.Push16(c.R16(i.Reg))) ? X86Cpu.Next : X86Cpu.Fault;

    public static int PushI<W>(X86Cpu c, ref Insn i) where W : IWidth
        => (W.Bits == 32 ? c.Push32(i.Imm) : c.Push16(i.Imm)) ? X86Cpu.Next : X86Cpu.Fault;

    public static int PushM<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!W.Read(c, i.Seg, c.Ea(ref i), out uint v)) return X86Cpu.Fault;
        return (W.Bits == 32 ? c.Push32(v) : c.Push16(v)) ? X86Cpu.Next : X86Cpu.Fault;
    }

    /// <summary>PUSH Sreg; Op is the segment register. A 32-bit push writes the selector zero-extended.</summary>
    public static int PushSreg<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint v = c.Seg(i.Op).Selector;
        return (W.Bits == 32 ? c.Push32(v) : c.Push16(v)) ? X86Cpu.Next : X86Cpu.Fault;
    }

    public static int PopR<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (W.Bits == 32)
        {
            if (!c.Pop32(out uint v)) return X86Cpu.Fault;
            c.R(i.Reg) = v;
        }
        else
        {
            if (!c.Pop16(out uint v)) return X86Cpu.Fault;
            c.R16(i.Reg) = (ushort)v;
        }
        return X86Cpu.Next;
    }

    /// <summary>POP r/m: the address is computed after ESP has been incremented (SDM Vol. 2, POP).</summary>
    public static int PopM<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint oldEsp = c.R(X86Cpu.ESP);
        uint v;
        bool ok = W.Bits == 32 ? c.Pop32(out v) : c.Pop16(out v);
        if (!ok) return X86Cpu.Fault;
        if (!W.Write(c, i.Seg, c.Ea(ref i), v)) { c.R(X86Cpu.ESP) = oldEsp; return X86Cpu.Fault; }
        return X86Cpu.Next;
    }

    public static int PopSreg<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint v;
        if (!(W.Bits == 32 ? c.PeekStack(0, true, out v) : c.PeekStack(0, false, out v))) return X86Cpu.Fault;
        if (!c.LoadSegment(i.Op, (ushort)v)) return X86Cpu.Fault;
        c.SetSp(c.Sp + (uint)(W.Bits / 8));
        if (i.Op == X86Cpu.SS) c.inhibitInterrupts = true;
        return X86Cpu.Exit;
    }

    public static int Pusha<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint size = (uint)W.Bits / 8;
        uint sp = c.Sp;
        uint oldEsp = c.R(X86Cpu.ESP);
        for (int r = 0; r < 8; r++)
        {
            sp = (sp - size) & c.stackMask;
            uint v = W.Bits == 32 ? c.R(r) : c.R16(r);
            if (r == X86Cpu.ESP) v = W.Bits == 32 ? oldEsp : oldEsp & 0xFFFF;
            if (!W.Write(c, X86Cpu.SS, sp, v)) return X86Cpu.Fault;
        }
        c.SetSp(sp);
        return X86Cpu.Next;
    }

    public static int Popa<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint size = (uint)W.Bits / 8;
        uint sp = c.Sp;
        Span<uint> vals = stackalloc uint[8];
        for (int r = 7; r >= 0; r--)
        {
            if (!W.Read(c, X86Cpu.SS, sp, out vals[r])) return X86Cpu.Fault;
            sp = (sp + size) & c.stackMask;
        }
        for (int r = 0; r < 8; r++)
        {
            if (r == X86Cpu.ESP) continue;
            W.Set(c, r, vals[r]);
        }
        c.SetSp(sp);
        return X86Cpu.Next;
    }

    /// <summary>PUSHF: the image has RF and VM clear (SDM Vol. 2, PUSHF).</summary>
    public static int Pushf<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint f = c.GetEflags() & ~(X86Cpu.FlagRF | X86Cpu.FlagVM);
        return (W.Bits == 32 ? c.Push32(f) : c.Push16(f & 0xFFFF)) ? X86Cpu.Next : X86Cpu.Fault;
    }

    public static int Popf<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint v;
        if (!(W.Bits == 32 ? c.Pop32(out v) : c.Pop16(out v))) return X86Cpu.Fault;
        c.WriteFlagsChecked(W.Bits == 32 ? v : (c.GetEflags() & 0xFFFF_0000) | v, W.Bits == 32, c.cpl);
        return X86Cpu.Exit;
    }

    /// <summary>ENTER imm16, imm8 (SDM Vol. 2, ENTER): Imm is the frame size, Imm2 the nesting level.</summary>
    public static int Enter<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint size = (uint)W.Bits / 8;
        int level = i.Imm2 & 31;
        uint mask = c.stackMask;
        uint oldEsp = c.R(X86Cpu.ESP), oldEbp = c.R(X86Cpu.EBP);
        uint sp = c.Sp;
        uint bp = W.Bits == 32 ? c.R(X86Cpu.EBP) : c.R16(X86Cpu.EBP);
        sp = (sp - size) & mask;
        if (!W.Write(c, X86Cpu.SS, sp, bp)) return X86Cpu.Fault;
        uint frameTemp = sp;
        if (level > 0)
        {
            uint fp = c.R(X86Cpu.EBP) & mask;
            for (int k = 1; k < level; k++)
            {
                fp = (fp - size) & mask;
                if (!W.Read(c, X86Cpu.SS, fp, out uint v)) return X86Cpu.Fault;
                sp = (sp - size) & mask;
                if (!W.Write(c, X86Cpu.SS, sp, v)) return X86Cpu.Fault;
            }
            sp = (sp - size) & mask;
            if (!W.Write(c, X86Cpu.SS, sp, frameTemp)) return X86Cpu.Fault;
        }
        sp = (sp - i.Imm) & mask;
        // The final stack pointer must be inside the segment (#SS otherwise).
        if (!c.CheckSegment(X86Cpu.SS, sp, 1, true)) { c.R(X86Cpu.ESP) = oldEsp; c.R(X86Cpu.EBP) = oldEbp; return X86Cpu.Fault; }
        if (W.Bits == 32) c.R(X86Cpu.EBP) = frameTemp; else c.R16(X86Cpu.EBP) = (ushort)frameTemp;
        c.SetSp(sp);
        return X86Cpu.Next;
    }

    public static int Leave<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint bp = c.R(X86Cpu.EBP) & c.stackMask;
        uint v;
        if (!(W.Bits == 32 ? c.Read32(X86Cpu.SS, bp, out v) : c.Read16(X86Cpu.SS, bp, out v))) return X86Cpu.Fault;
        c.SetSp(bp + (uint)W.Bits / 8);
        if (W.Bits == 32) c.R(X86Cpu.EBP) = v; else c.R16(X86Cpu.EBP) = (ushort)v;
        return X86Cpu.Next;
    }
}
