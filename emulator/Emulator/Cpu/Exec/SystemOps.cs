namespace Emulator.Cpu.Exec;

/// <summary>Flag instructions, HLT, CPUID, RDTSC, MSRs, SYSENTER/SYSEXIT and the system instructions:
/// descriptor-table registers, LDTR/TR, control and debug registers, INVLPG, LAR/LSL/VERR/VERW, ARPL
/// (SDM Vol. 2 and Vol. 3, 2.7-2.8).</summary>
internal static class SystemOps
{
    private static bool Privileged(X86Cpu c) => !c.ProtectedMode || c.cpl == 0;
    private static int Iopl(X86Cpu c) => (int)((c.flagsRest >> 12) & 3);

    public static int Clc(X86Cpu c, ref Insn i) { c.SetCF(0); return X86Cpu.Next; }
    public static int Stc(X86Cpu c, ref Insn i) { c.SetCF(1); return X86Cpu.Next; }
    public static int Cmc(X86Cpu c, ref Insn i) { c.SetCF(c.CFv ^ 1); return X86Cpu.Next; }
    public static int Cld(X86Cpu c, ref Insn i) { c.flagsRest &= ~X86Cpu.FlagDF; return X86Cpu.Next; }
    public static int Std(X86Cpu c, ref Insn i) { c.flagsRest |= X86Cpu.FlagDF; return X86Cpu.Next; }

    public static int Cli(X86Cpu c, ref Insn i)
    {
        if (c.ProtectedMode && c.cpl > Iopl(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        c.flagsRest &= ~X86Cpu.FlagIF;
        return X86Cpu.Next;
    }

    /// <summary>STI: interrupts are recognised only after the next instruction (SDM Vol. 2, STI).</summary>
    public static int Sti(X86Cpu c, ref Insn i)
    {
        if (c.ProtectedMode && c.cpl > Iopl(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        if ((c.flagsRest & X86Cpu.FlagIF) == 0) c.inhibitInterrupts = true;
        c.flagsRest |= X86Cpu.FlagIF;
        return X86Cpu.Exit;
    }

    public static int Hlt(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        c.EnterHalt();
        return X86Cpu.Exit;
    }

    public static int Cpuid(X86Cpu c, ref Insn i) { c.Cpuid(); return X86Cpu.Next; }

    public static int Rdtsc(X86Cpu c, ref Insn i)
    {
        if ((c.cr4 & X86Cpu.CR4_TSD) != 0 && c.ProtectedMode && c.cpl != 0) return c.RaiseFault(X86Cpu.VecGP, 0);
        ulong t = c.ReadTsc();
        c.R(X86Cpu.EAX) = (uint)t;
        c.R(X86Cpu.EDX) = (uint)(t >> 32);
        return X86Cpu.Next;
    }

    /// <summary>RDPMC: the P6's two 40-bit counters, PerfCtr0/1 (what WRMSR last put there; no event counts).</summary>
    public static int Rdpmc(X86Cpu c, ref Insn i)
    {
        if ((c.cr4 & X86Cpu.CR4_PCE) == 0 && c.ProtectedMode && c.cpl != 0) return c.RaiseFault(X86Cpu.VecGP, 0);
        if (c.R(X86Cpu.ECX) > 1) return c.RaiseFault(X86Cpu.VecGP, 0);
        ulong v = c.R(X86Cpu.ECX) == 0 ? c.perfCtr0 : c.perfCtr1;
        c.R(X86Cpu.EAX) = (uint)v;
        c.R(X86Cpu.EDX) = (uint)(v >> 32);
        return X86Cpu.Next;
    }

    public static int Rdmsr(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        if (!c.ReadMsr(c.R(X86Cpu.ECX), out ulong v)) return c.RaiseFault(X86Cpu.VecGP, 0);
        c.R(X86Cpu.EAX) = (uint)v;
        c.R(X86Cpu.EDX) = (uint)(v >> 32);
        return X86Cpu.Next;
    }

    public static int Wrmsr(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        ulong v = (ulong)c.R(X86Cpu.EDX) << 32 | c.R(X86Cpu.EAX);
        if (!c.WriteMsr(c.R(X86Cpu.ECX), v)) return c.RaiseFault(X86Cpu.VecGP, 0);
        return X86Cpu.Exit;
    }

    /// <summary>SYSENTER: flat ring-0 CS/SS from IA32_SYSENTER_CS (SDM Vol. 2, SYSENTER).</summary>
    public static int Sysenter(X86Cpu c, ref Insn i)
    {
        if (!c.ProtectedMode || (c.sysenterCs & 0xFFFC) == 0) return c.RaiseFault(X86Cpu.VecGP, 0);
        c.flagsRest &= ~(X86Cpu.FlagVM | X86Cpu.FlagIF | X86Cpu.FlagRF);
        ushort cs = (ushort)(c.sysenterCs & 0xFFFC);
        c.LoadSegmentRaw(X86Cpu.CS, cs, 0, 0xFFFF_FFFF, 0xC09B);
        c.LoadSegmentRaw(X86Cpu.SS, (ushort)(cs + 8), 0, 0xFFFF_FFFF, 0xC093);
        c.SetCpl(0);
        c.UpdateMode();
        c.R(X86Cpu.ESP) = c.sysenterEsp;
        c.eip = c.sysenterEip;
        return X86Cpu.Exit;
    }

    /// <summary>SYSEXIT: flat ring-3 CS/SS at IA32_SYSENTER_CS + 16/24, ESP = ECX, EIP = EDX.</summary>
    public static int Sysexit(X86Cpu c, ref Insn i)
    {
        if (!c.ProtectedMode || c.cpl != 0 || (c.sysenterCs & 0xFFFC) == 0) return c.RaiseFault(X86Cpu.VecGP, 0);
        ushort cs = (ushort)((c.sysenterCs + 16) | 3);
        c.LoadSegmentRaw(X86Cpu.CS, cs, 0, 0xFFFF_FFFF, 0xC0FB);
        c.LoadSegmentRaw(X86Cpu.SS, (ushort)((c.sysenterCs + 24) | 3), 0, 0xFFFF_FFFF, 0xC0F3);
        c.SetCpl(3);
        c.UpdateMode();
        c.R(X86Cpu.ESP) = c.R(X86Cpu.ECX);
        c.eip = c.R(X86Cpu.EDX);
        return X86Cpu.Exit;
    }

    /// <summary>LGDT (Op 0) / LIDT (Op 1): limit and base; a 16-bit operand size loads 24 bits of base.</summary>
    public static int LoadTable(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        uint ea = c.Ea(ref i);
        if (!c.Read16(i.Seg, ea, out uint limit)) return X86Cpu.Fault;
        if (!c.Read32(i.Seg, (ea + 2) & i.AddrMask, out uint b)) return X86Cpu.Fault;
        if (i.Imm == 0) b &= 0x00FF_FFFF;
        if ((i.Op & 1) == 0) { c.gdtBase = b; c.gdtLimit = limit; }
        else { c.idtBase = b; c.idtLimit = limit; }
        return X86Cpu.Next;
    }

    /// <summary>SGDT (Op 0) / SIDT (Op 1).</summary>
    public static int StoreTable(X86Cpu c, ref Insn i)
    {
        uint ea = c.Ea(ref i);
        uint limit = (i.Op & 1) == 0 ? c.gdtLimit : c.idtLimit;
        uint b = (i.Op & 1) == 0 ? c.gdtBase : c.idtBase;
        if (i.Imm == 0) b &= 0x00FF_FFFF;
        if (!c.CheckSegment(i.Seg, ea, 6, true)) return X86Cpu.Fault;
        if (!c.Write16(i.Seg, ea, limit)) return X86Cpu.Fault;
        if (!c.Write32(i.Seg, (ea + 2) & i.AddrMask, b)) return X86Cpu.Fault;
        return X86Cpu.Next;
    }

    private static bool ReadRm16(X86Cpu c, ref Insn i, out uint v)
    {
        if (i.Seg == 0xFF) { v = c.R16(i.Rm); return true; }
        return c.Read16(i.Seg, c.Ea(ref i), out v);
    }

    /// <summary>Stores a 16-bit system value to r/m: a register destination with 32-bit operand size gets it
    /// zero-extended (Imm = 1), memory always gets 16 bits.</summary>
    private static int StoreRm16(X86Cpu c, ref Insn i, uint v)
    {
        if (i.Seg == 0xFF)
        {
            if (i.Imm != 0) c.R(i.Rm) = v; else c.R16(i.Rm) = (ushort)v;
            return X86Cpu.Next;
        }
        return c.Write16(i.Seg, c.Ea(ref i), v) ? X86Cpu.Next : X86Cpu.Fault;
    }

    public static int Sldt(X86Cpu c, ref Insn i)
        => !c.ProtectedMode ? c.RaiseFault(X86Cpu.VecUD) : StoreRm16(c, ref i, c.ldtr.Selector);

    public static int Str(X86Cpu c, ref Insn i)
        => !c.ProtectedMode ? c.RaiseFault(X86Cpu.VecUD) : StoreRm16(c, ref i, c.tr.Selector);

    public static int Smsw(X86Cpu c, ref Insn i)
    {
        if (i.Seg == 0xFF && i.Imm != 0) { c.R(i.Rm) = c.cr0; return X86Cpu.Next; }
        return StoreRm16(c, ref i, c.cr0 & 0xFFFF);
    }

    public static int Lldt(X86Cpu c, ref Insn i)
    {
        if (!c.ProtectedMode) return c.RaiseFault(X86Cpu.VecUD);
        if (c.cpl != 0) return c.RaiseFault(X86Cpu.VecGP, 0);
        if (!ReadRm16(c, ref i, out uint v)) return X86Cpu.Fault;
        ushort sel = (ushort)v;
        if ((sel & 0xFFFC) == 0) { c.ldtr = SegCache.Make(sel, 0, 0, 0); return X86Cpu.Next; }
        if ((sel & 4) != 0) return c.RaiseFault(X86Cpu.VecGP, sel & 0xFFFCu);
        if (!c.ReadDescriptor(sel, X86Cpu.VecGP, out ulong d)) return X86Cpu.Fault;
        if (X86Cpu.DescIsSegment(d) || X86Cpu.DescType(d) != 2) return c.RaiseFault(X86Cpu.VecGP, sel & 0xFFFCu);
        if (!X86Cpu.DescPresent(d)) return c.RaiseFault(X86Cpu.VecNP, sel & 0xFFFCu);
        c.ldtr = SegCache.FromDescriptor(sel, d);
        return X86Cpu.Next;
    }

    public static int Ltr(X86Cpu c, ref Insn i)
    {
        if (!c.ProtectedMode) return c.RaiseFault(X86Cpu.VecUD);
        if (c.cpl != 0) return c.RaiseFault(X86Cpu.VecGP, 0);
        if (!ReadRm16(c, ref i, out uint v)) return X86Cpu.Fault;
        ushort sel = (ushort)v;
        if ((sel & 0xFFFC) == 0) return c.RaiseFault(X86Cpu.VecGP, 0);
        if ((sel & 4) != 0) return c.RaiseFault(X86Cpu.VecGP, sel & 0xFFFCu);
        if (!c.ReadDescriptor(sel, X86Cpu.VecGP, out ulong d)) return X86Cpu.Fault;
        int type = X86Cpu.DescType(d);
        if (X86Cpu.DescIsSegment(d) || (type != 1 && type != 9)) return c.RaiseFault(X86Cpu.VecGP, sel & 0xFFFCu);
        if (!X86Cpu.DescPresent(d)) return c.RaiseFault(X86Cpu.VecNP, sel & 0xFFFCu);
        if (!c.WriteLinSys(c.gdtBase + (sel & 0xFFF8u) + 5, 1, (uint)(d >> 40) | 2)) return X86Cpu.Fault;
        c.tr = SegCache.FromDescriptor(sel, d | (2UL << 40));
        return X86Cpu.Next;
    }

    /// <summary>LMSW: loads PE, MP, EM, TS; it can set PE but not clear it.</summary>
    public static int Lmsw(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        if (!ReadRm16(c, ref i, out uint v)) return X86Cpu.Fault;
        uint cr0 = (c.cr0 & ~0xEu) | (v & 0xF) | (c.cr0 & 1);
        c.Cr0 = cr0;
        return X86Cpu.Exit;
    }

    public static int Clts(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        c.cr0 &= ~X86Cpu.CR0_TS;
        return X86Cpu.Next;
    }

    /// <summary>MOV r32, CRn (Op = n).</summary>
    public static int MovFromCr(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        c.R(i.Rm) = i.Op switch { 0 => c.cr0, 2 => c.cr2, 3 => c.cr3, _ => c.cr4 };
        return X86Cpu.Next;
    }

    /// <summary>MOV CRn, r32 with the reserved-bit and combination checks (SDM Vol. 3, 2.5).</summary>
    public static int MovToCr(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        uint v = c.R(i.Rm);
        switch (i.Op)
        {
            case 0:
                if ((v & X86Cpu.CR0_PG) != 0 && (v & X86Cpu.CR0_PE) == 0) return c.RaiseFault(X86Cpu.VecGP, 0);
                if ((v & X86Cpu.CR0_NW) != 0 && (v & X86Cpu.CR0_CD) == 0) return c.RaiseFault(X86Cpu.VecGP, 0);
                c.Cr0 = v;
                break;
            case 2: c.cr2 = v; break;
            case 3: c.cr3 = v & 0xFFFF_F018; c.FlushTlb(all: false); break;
            default:
                if ((v & ~X86Cpu.CR4_Supported) != 0) return c.RaiseFault(X86Cpu.VecGP, 0);
                c.cr4 = v;
                c.FlushTlb(all: true);
                break;
        }
        return X86Cpu.Exit;
    }

    /// <summary>MOV r32, DRn / MOV DRn, r32 (Op = n; Imm 1 = write). DR4/DR5 alias DR6/DR7 (CR4.DE clear).
    /// The values are kept; breakpoints are not implemented.</summary>
    public static int MovDr(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        int n = i.Op is 4 or 5 ? i.Op + 2 : i.Op;
        if (i.Imm != 0)
        {
            uint v = c.R(i.Rm);
            c.dr[n] = n == 6 ? v | 0xFFFF_0FF0 : n == 7 ? (v | 0x400) & ~0x2000u : v;
        }
        else c.R(i.Rm) = c.dr[n];
        return X86Cpu.Next;
    }

    public static int Invlpg(X86Cpu c, ref Insn i)
    {
        if (!Privileged(c)) return c.RaiseFault(X86Cpu.VecGP, 0);
        c.InvalidatePage(c.Seg(i.Seg).Base + c.Ea(ref i));
        return X86Cpu.Exit;
    }

    public static int CacheOp(X86Cpu c, ref Insn i)
        => Privileged(c) ? X86Cpu.Next : c.RaiseFault(X86Cpu.VecGP, 0);

    /// <summary>LAR (Op 0) / LSL (Op 1): ZF = the selector is visible at CPL/RPL and of a suitable type.</summary>
    public static int LarLsl<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        if (!c.ProtectedMode) return c.RaiseFault(X86Cpu.VecUD);
        if (!ReadRm16(c, ref i, out uint v)) return X86Cpu.Fault;
        ushort sel = (ushort)v;
        bool ok = false;
        uint result = 0;
        if ((sel & 0xFFFC) != 0 && ProbeDescriptor(c, sel, out ulong d))
        {
            int type = X86Cpu.DescType(d), dpl = X86Cpu.DescDpl(d);
            bool seg = X86Cpu.DescIsSegment(d);
            bool typeOk = seg || (i.Op == 0
                ? type is 1 or 2 or 3 or 4 or 5 or 9 or 0xB or 0xC
                : type is 1 or 2 or 3 or 9 or 0xB);
            bool conforming = seg && (type & 0xC) == 0xC;
            bool privOk = conforming || (dpl >= c.cpl && dpl >= (sel & 3));
            if (typeOk && privOk)
            {
                ok = true;
                if (i.Op == 0) result = (uint)(d >> 32) & 0x00F0_FF00;
                else result = SegCache.FromDescriptor(sel, d).Limit;
            }
        }
        if (ok) W.Set(c, i.Reg, result);
        SetZf(c, ok);
        return X86Cpu.Next;
    }

    /// <summary>VERR (Op 0) / VERW (Op 1).</summary>
    public static int Ver(X86Cpu c, ref Insn i)
    {
        if (!c.ProtectedMode) return c.RaiseFault(X86Cpu.VecUD);
        if (!ReadRm16(c, ref i, out uint v)) return X86Cpu.Fault;
        ushort sel = (ushort)v;
        bool ok = false;
        if ((sel & 0xFFFC) != 0 && ProbeDescriptor(c, sel, out ulong d) && X86Cpu.DescIsSegment(d))
        {
            int type = X86Cpu.DescType(d), dpl = X86Cpu.DescDpl(d);
            bool code = (type & 8) != 0;
            bool conforming = code && (type & 4) != 0;
            bool privOk = conforming || (dpl >= c.cpl && dpl >= (sel & 3));
            ok = privOk && (i.Op == 0 ? (!code || (type & 2) != 0) : (!code && (type & 2) != 0));
        }
        SetZf(c, ok);
        return X86Cpu.Next;
    }

    /// <summary>Reads a descriptor for LAR/LSL/VERR/VERW: a selector outside the table is "not valid", not a fault.</summary>
    private static bool ProbeDescriptor(X86Cpu c, ushort sel, out ulong d)
    {
        d = 0;
        uint limit = (sel & 4) != 0 ? (c.ldtr.Present ? c.ldtr.Limit : 0) : c.gdtLimit;
        if ((sel & 4) != 0 && !c.ldtr.Present) return false;
        if ((sel & 0xFFF8u) + 7 > limit) return false;
        return c.ReadDescriptor(sel, X86Cpu.VecGP, out d);
    }

    private static void SetZf(X86Cpu c, bool zf)
    {
        uint f = c.GetEflags() & ~X86Cpu.FlagZF;
        c.SetArithFlags(f | (zf ? X86Cpu.FlagZF : 0));
    }

    /// <summary>ARPL r/m16, r16: raises the RPL of the destination to the source's; ZF tells whether it did.</summary>
    public static int Arpl(X86Cpu c, ref Insn i)
    {
        if (!c.ProtectedMode) return c.RaiseFault(X86Cpu.VecUD);
        uint src = c.R16(i.Reg);
        if (i.Seg == 0xFF)
        {
            uint d = c.R16(i.Rm);
            bool adj = (d & 3) < (src & 3);
            if (adj) c.R16(i.Rm) = (ushort)((d & ~3u) | (src & 3));
            SetZf(c, adj);
            return X86Cpu.Next;
        }
        if (!c.RmwBegin<W16>(i.Seg, c.Ea(ref i), out uint lin, out uint m)) return X86Cpu.Fault;
        bool a = (m & 3) < (src & 3);
        if (a) c.RmwEnd<W16>(lin, (m & ~3u) | (src & 3));
        SetZf(c, a);
        return X86Cpu.Next;
    }

    public static int Ud(X86Cpu c, ref Insn i) => c.RaiseFault(X86Cpu.VecUD);
}
