namespace Emulator.Cpu.Exec;

/// <summary>
/// Near and far control transfers, software interrupts and BOUND (SDM Vol. 2). Relative branches keep
/// their displacement (target minus next EIP) in Imm and the EIP mask of their operand size in Disp.
/// A near target beyond the CS limit raises #GP(0) before anything changes.
/// </summary>
internal static class Branch
{
    public static int Jmp(X86Cpu c, ref Insn i) => c.NearJump((c.eip + i.Imm) & i.Disp);

    public static int Jcc<T>(X86Cpu c, ref Insn i) where T : ICond
        => T.Test(c) ? c.NearJump((c.eip + i.Imm) & i.Disp) : X86Cpu.Exit;

    /// <summary>JCXZ/JECXZ: Op 1 tests ECX, else CX.</summary>
    public static int Jcxz(X86Cpu c, ref Insn i)
    {
        uint count = i.Op != 0 ? c.R(X86Cpu.ECX) : c.R16(X86Cpu.ECX);
        return count == 0 ? c.NearJump((c.eip + i.Imm) & i.Disp) : X86Cpu.Exit;
    }

    /// <summary>LOOP, LOOPE, LOOPNE (Op bits 0-1: 0 plain, 1 while ZF, 2 while not ZF; bit 2: ECX).</summary>
    public static int Loop(X86Cpu c, ref Insn i)
    {
        uint count;
        if ((i.Op & 4) != 0) count = --c.R(X86Cpu.ECX);
        else count = --c.R16(X86Cpu.ECX);
        bool take = count != 0;
        if ((i.Op & 3) == 1) take &= c.ZFb;
        else if ((i.Op & 3) == 2) take &= !c.ZFb;
        return take ? c.NearJumpOrRestore(ref i, (c.eip + i.Imm) & i.Disp) : X86Cpu.Exit;
    }

    public static int CallRel<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint target = (c.eip + i.Imm) & W.Mask;
        if (target > c.Seg(X86Cpu.CS).Limit) return c.RaiseFault(X86Cpu.VecGP, 0);
        if (!(W.Bits == 32 ? c.Push32(c.eip) : c.Push16(c.eip & 0xFFFF))) return X86Cpu.Fault;
        c.eip = target;
        return X86Cpu.Exit;
    }

    public static int JmpR<W>(X86Cpu c, ref Insn i) where W : IWidth => c.NearJump(W.Get(c, i.Reg));

    public static int JmpM<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!W.Read(c, i.Seg, c.Ea(ref i), out uint t)) return X86Cpu.Fault;
        return c.NearJump(t);
    }

    private static int CallTo<W>(X86Cpu c, uint target) where W : IWidth
    {
        if (target > c.Seg(X86Cpu.CS).Limit) return c.RaiseFault(X86Cpu.VecGP, 0);
        if (!(W.Bits == 32 ? c.Push32(c.eip) : c.Push16(c.eip & 0xFFFF))) return X86Cpu.Fault;
        c.eip = target;
        return X86Cpu.Exit;
    }

    public static int CallR<W>(X86Cpu c, ref Insn i) where W : IWidth => CallTo<W>(c, W.Get(c, i.Reg));

    public static int CallM<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!W.Read(c, i.Seg, c.Ea(ref i), out uint t)) return X86Cpu.Fault;
        return CallTo<W>(c, t);
    }

    /// <summary>RET [imm16]: Imm is the number of bytes released after the return address.</summary>
    public static int Ret<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint sp = c.Sp;
        uint t;
        if (!(W.Bits == 32 ? c.Read32(X86Cpu.SS, sp, out t) : c.Read16(X86Cpu.SS, sp, out t))) return X86Cpu.Fault;
        if (t > c.Seg(X86Cpu.CS).Limit) return c.RaiseFault(X86Cpu.VecGP, 0);
        c.SetSp(sp + (uint)(W.Bits / 8) + i.Imm);
        c.eip = t;
        return X86Cpu.Exit;
    }

    public static int JmpFar<W>(X86Cpu c, ref Insn i) where W : IWidth => c.FarJump(i.Imm2, i.Imm, W.Bits == 32);
    public static int CallFar<W>(X86Cpu c, ref Insn i) where W : IWidth => c.FarCall(i.Imm2, i.Imm, W.Bits == 32);

    private static bool ReadFarPointer<W>(X86Cpu c, ref Insn i, out uint off, out ushort sel) where W : IWidth
    {
        uint ea = c.Ea(ref i);
        sel = 0;
        if (!W.Read(c, i.Seg, ea, out off)) return false;
        if (!c.Read16(i.Seg, (ea + (uint)(W.Bits / 8)) & i.AddrMask, out uint s)) return false;
        sel = (ushort)s;
        return true;
    }

    public static int JmpFarM<W>(X86Cpu c, ref Insn i) where W : IWidth
        => ReadFarPointer<W>(c, ref i, out uint off, out ushort sel) ? c.FarJump(sel, off, W.Bits == 32) : X86Cpu.Fault;

    public static int CallFarM<W>(X86Cpu c, ref Insn i) where W : IWidth
        => ReadFarPointer<W>(c, ref i, out uint off, out ushort sel) ? c.FarCall(sel, off, W.Bits == 32) : X86Cpu.Fault;

    public static int RetFar<W>(X86Cpu c, ref Insn i) where W : IWidth => c.FarReturn(W.Bits == 32, i.Imm);
    public static int Iret<W>(X86Cpu c, ref Insn i) where W : IWidth => c.Iret(W.Bits == 32);

    public static int Int(X86Cpu c, ref Insn i) => c.SoftwareInterrupt((int)i.Imm, EventKind.Software);
    public static int Int3(X86Cpu c, ref Insn i) => c.SoftwareInterrupt(X86Cpu.VecBP, EventKind.SoftwareException);
    public static int Int1(X86Cpu c, ref Insn i) => c.SoftwareInterrupt(X86Cpu.VecDB, EventKind.Trap);

    public static int Into(X86Cpu c, ref Insn i)
        => c.OFv != 0 ? c.SoftwareInterrupt(X86Cpu.VecOF, EventKind.SoftwareException) : X86Cpu.Next;

    /// <summary>BOUND: #BR when the signed index is outside [lower, upper] read from memory.</summary>
    public static int Bound<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        uint ea = c.Ea(ref i);
        if (!W.Read(c, i.Seg, ea, out uint lo)) return X86Cpu.Fault;
        if (!W.Read(c, i.Seg, (ea + (uint)(W.Bits / 8)) & i.AddrMask, out uint hi)) return X86Cpu.Fault;
        int idx = (int)X86Cpu.SignExtend<W>(W.Get(c, i.Reg));
        if (idx < (int)X86Cpu.SignExtend<W>(lo) || idx > (int)X86Cpu.SignExtend<W>(hi)) return c.RaiseFault(X86Cpu.VecBR);
        return X86Cpu.Next;
    }
}
