namespace Emulator.Cpu.Exec;

/// <summary>MOV, MOVZX, MOVSX, LEA, XCHG, XADD, CMPXCHG, CMPXCHG8B, BSWAP, CMOVcc, SETcc, CBW/CWD family,
/// XLAT, LAHF/SAHF, SALC and segment register moves (SDM Vol. 2).</summary>
internal static class Move
{
    public static int RR<W>(X86Cpu c, ref Insn i) where W : IWidth { W.Set(c, i.Reg, W.Get(c, i.Rm)); return X86Cpu.Next; }
    public static int RI<W>(X86Cpu c, ref Insn i) where W : IWidth { W.Set(c, i.Reg, i.Imm); return X86Cpu.Next; }

    public static int RM<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!W.Read(c, i.Seg, c.Ea(ref i), out uint v)) return X86Cpu.Fault;
        W.Set(c, i.Reg, v);
        return X86Cpu.Next;
    }

    public static int MR<W>(X86Cpu c, ref Insn i) where W : IWidth
        => W.Write(c, i.Seg, c.Ea(ref i), W.Get(c, i.Reg)) ? X86Cpu.Next : X86Cpu.Fault;

    public static int MI<W>(X86Cpu c, ref Insn i) where W : IWidth
        => W.Write(c, i.Seg, c.Ea(ref i), i.Imm) ? X86Cpu.Next : X86Cpu.Fault;

    /// <summary>MOVZX/MOVSX: source width S into destination width D; Op 1 sign-extends.</summary>
    public static int ExtRR<S, D>(X86Cpu c, ref Insn i) where S : IWidth where D : IWidth
    {
        uint v = S.Get(c, i.Rm);
        if (i.Op != 0) v = X86Cpu.SignExtend<S>(v);
        D.Set(c, i.Reg, v);
        return X86Cpu.Next;
    }

    public static int ExtRM<S, D>(X86Cpu c, ref Insn i) where S : IWidth where D : IWidth
    {
        if (!S.Read(c, i.Seg, c.Ea(ref i), out uint v)) return X86Cpu.Fault;
        if (i.Op != 0) v = X86Cpu.SignExtend<S>(v);
        D.Set(c, i.Reg, v);
        return X86Cpu.Next;
    }

    public static int Lea<W>(X86Cpu c, ref Insn i) where W : IWidth { W.Set(c, i.Reg, c.Ea(ref i)); return X86Cpu.Next; }

    public static int XchgRR<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint a = W.Get(c, i.Reg), b = W.Get(c, i.Rm);
        W.Set(c, i.Reg, b);
        W.Set(c, i.Rm, a);
        return X86Cpu.Next;
    }

    public static int XchgMR<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!c.RmwBegin<W>(i.Seg, c.Ea(ref i), out uint lin, out uint m)) return X86Cpu.Fault;
        c.RmwEnd<W>(lin, W.Get(c, i.Reg));
        W.Set(c, i.Reg, m);
        return X86Cpu.Next;
    }

    public static int XaddRR<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        // Reg is the destination (r/m), Rm the source register.
        uint d = W.Get(c, i.Reg), s = W.Get(c, i.Rm);
        uint sum = OpAdd.Do<W>(c, d, s);
        W.Set(c, i.Rm, d);
        W.Set(c, i.Reg, sum);
        return X86Cpu.Next;
    }

    public static int XaddMR<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!c.RmwBegin<W>(i.Seg, c.Ea(ref i), out uint lin, out uint d)) return X86Cpu.Fault;
        uint sum = OpAdd.Do<W>(c, d, W.Get(c, i.Reg));
        c.RmwEnd<W>(lin, sum);
        W.Set(c, i.Reg, d);
        return X86Cpu.Next;
    }

    /// <summary>CMPXCHG: compare the accumulator with the destination (SDM Vol. 2, CMPXCHG).</summary>
    public static int CmpxchgRR<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint acc = W.Get(c, W.Bits == 8 ? 0 : X86Cpu.EAX), d = W.Get(c, i.Reg);
        OpCmp.Do<W>(c, acc, d);
        if (acc == d) W.Set(c, i.Reg, W.Get(c, i.Rm));
        else W.Set(c, 0, d);
        return X86Cpu.Next;
    }

    public static int CmpxchgMR<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!c.RmwBegin<W>(i.Seg, c.Ea(ref i), out uint lin, out uint d)) return X86Cpu.Fault;
        uint acc = W.Get(c, 0);
        OpCmp.Do<W>(c, acc, d);
        if (acc == d) c.RmwEnd<W>(lin, W.Get(c, i.Reg));
        else { c.RmwEnd<W>(lin, d); W.Set(c, 0, d); }   // the processor always writes back
        return X86Cpu.Next;
    }

    public static int Cmpxchg8b(X86Cpu c, ref Insn i)
    {
        uint ea = c.Ea(ref i);
        if (!c.RmwBegin<W32>(i.Seg, ea, out uint lin0, out uint lo)) return X86Cpu.Fault;
        if (!c.RmwBegin<W32>(i.Seg, ea + 4, out uint lin1, out uint hi)) return X86Cpu.Fault;
        uint zf;
        if (lo == c.R(X86Cpu.EAX) && hi == c.R(X86Cpu.EDX))
        {
            c.RmwEnd<W32>(lin0, c.R(X86Cpu.EBX));
            c.RmwEnd<W32>(lin1, c.R(X86Cpu.ECX));
            zf = 1;
        }
        else
        {
            c.RmwEnd<W32>(lin0, lo);
            c.RmwEnd<W32>(lin1, hi);
            c.R(X86Cpu.EAX) = lo;
            c.R(X86Cpu.EDX) = hi;
            zf = 0;
        }
        uint f = c.GetEflags();
        c.SetArithFlags((f & ~X86Cpu.FlagZF) | zf << 6);
        return X86Cpu.Next;
    }

    public static int Bswap32(X86Cpu c, ref Insn i)
    {
        c.R(i.Reg) = System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(c.R(i.Reg));
        return X86Cpu.Next;
    }

    /// <summary>BSWAP with a 16-bit operand is undefined; P6 parts clear the register's low word.</summary>
    public static int Bswap16(X86Cpu c, ref Insn i) { c.R16(i.Reg) = 0; return X86Cpu.Next; }

    public static int CmovRR<T, W>(X86Cpu c, ref Insn i) where T : ICond where W : IWidth
    {
        if (T.Test(c)) W.Set(c, i.Reg, W.Get(c, i.Rm));
        return X86Cpu.Next;
    }

    /// <summary>CMOVcc with a memory source reads it whatever the condition (SDM Vol. 2, CMOVcc).</summary>
    public static int CmovRM<T, W>(X86Cpu c, ref Insn i) where T : ICond where W : IWidth
    {
        if (!W.Read(c, i.Seg, c.Ea(ref i), out uint v)) return X86Cpu.Fault;
        if (T.Test(c)) W.Set(c, i.Reg, v);
        return X86Cpu.Next;
    }

    public static int SetccR<T>(X86Cpu c, ref Insn i) where T : ICond { c.R8(i.Reg) = T.Test(c) ? (byte)1 : (byte)0; return X86Cpu.Next; }

    public static int SetccM<T>(X86Cpu c, ref Insn i) where T : ICond
        => c.Write8(i.Seg, c.Ea(ref i), T.Test(c) ? 1u : 0u) ? X86Cpu.Next : X86Cpu.Fault;

    public static int Cbw(X86Cpu c, ref Insn i) { c.R16(0) = (ushort)(sbyte)c.R8(0); return X86Cpu.Next; }
    public static int Cwde(X86Cpu c, ref Insn i) { c.R(0) = (uint)(short)c.R16(0); return X86Cpu.Next; }
    public static int Cwd(X86Cpu c, ref Insn i) { c.R16(X86Cpu.EDX) = (c.R16(0) & 0x8000) != 0 ? (ushort)0xFFFF : (ushort)0; return X86Cpu.Next; }
    public static int Cdq(X86Cpu c, ref Insn i) { c.R(X86Cpu.EDX) = (c.R(0) & 0x8000_0000) != 0 ? 0xFFFF_FFFF : 0; return X86Cpu.Next; }

    /// <summary>XLAT: AL = [seg:(E)BX + AL].</summary>
    public static int Xlat(X86Cpu c, ref Insn i)
    {
        uint ea = (c.R(X86Cpu.EBX) + c.R8(0)) & i.AddrMask;
        if (!c.Read8(i.Seg, ea, out uint v)) return X86Cpu.Fault;
        c.R8(0) = (byte)v;
        return X86Cpu.Next;
    }

    public static int Lahf(X86Cpu c, ref Insn i) { c.R8(1) = (byte)(c.GetEflags() & 0xD7 | 2); return X86Cpu.Next; }

    public static int Sahf(X86Cpu c, ref Insn i)
    {
        uint f = c.GetEflags();
        c.SetArithFlags((f & ~0xD5u) | (c.R8(1) & 0xD5u));
        return X86Cpu.Next;
    }

    /// <summary>SALC (undocumented D6): AL = CF ? 0xFF : 0.</summary>
    public static int Salc(X86Cpu c, ref Insn i) { c.R8(0) = c.CFv != 0 ? (byte)0xFF : (byte)0; return X86Cpu.Next; }

    public static int Nop(X86Cpu c, ref Insn i) => X86Cpu.Next;

    /// <summary>MOV r/m, Sreg. A register destination with a 32-bit operand gets the selector zero-extended.</summary>
    public static int MovRSreg(X86Cpu c, ref Insn i)
    {
        uint v = c.Seg(i.Op).Selector;
        if (i.Imm != 0) c.R(i.Reg) = v; else c.R16(i.Reg) = (ushort)v;
        return X86Cpu.Next;
    }

    public static int MovMSreg(X86Cpu c, ref Insn i)
        => c.Write16(i.Seg, c.Ea(ref i), c.Seg(i.Op).Selector) ? X86Cpu.Next : X86Cpu.Fault;

    /// <summary>MOV Sreg, r/m. MOV SS holds interrupts off for one instruction.</summary>
    public static int MovSregR(X86Cpu c, ref Insn i)
    {
        if (!c.LoadSegment(i.Op, c.R16(i.Rm))) return X86Cpu.Fault;
        if (i.Op == X86Cpu.SS) c.inhibitInterrupts = true;
        return X86Cpu.Exit;
    }

    public static int MovSregM(X86Cpu c, ref Insn i)
    {
        if (!c.Read16(i.Seg, c.Ea(ref i), out uint v)) return X86Cpu.Fault;
        if (!c.LoadSegment(i.Op, (ushort)v)) return X86Cpu.Fault;
        if (i.Op == X86Cpu.SS) c.inhibitInterrupts = true;
        return X86Cpu.Exit;
    }

    /// <summary>LDS/LES/LFS/LGS/LSS: offset then selector from memory; Op is the segment register.</summary>
    public static int LoadFar<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint ea = c.Ea(ref i);
        if (!W.Read(c, i.Seg, ea, out uint off)) return X86Cpu.Fault;
        if (!c.Read16(i.Seg, (ea + (uint)(W.Bits / 8)) & i.AddrMask, out uint sel)) return X86Cpu.Fault;
        if (!c.LoadSegment(i.Op, (ushort)sel)) return X86Cpu.Fault;
        W.Set(c, i.Reg, off);
        return i.Op == X86Cpu.SS ? X86Cpu.Exit : X86Cpu.Next;
    }
}
