namespace Emulator.Cpu;

internal enum TaskSwitchReason { Jump, Call, Gate, Iret }

/// <summary>
/// Hardware task switching (SDM Vol. 3, 7.3) for 32-bit and 16-bit TSSs: JMP/CALL to a TSS or task gate,
/// an interrupt or exception through a task gate (Linux's double-fault handler), and IRET with NT set.
/// The new TSS is read completely before any state changes, so a fault there leaves the old task intact;
/// faults loading the new task's segments are reported in the new task, as the processor does.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    internal bool SwitchTask(ushort sel, TaskSwitchReason reason, bool hasError, uint error, uint ext)
    {
        uint selErr = (sel & 0xFFFCu) | ext;
        if ((sel & 4) != 0) return Raise(reason == TaskSwitchReason.Iret ? VecTS : VecGP, selErr);
        if (!ReadDescriptor(sel, VecGP, out ulong d)) return AddExt(ext);
        int type = DescType(d);
        bool busy = (type & 2) != 0;
        if (DescIsSegment(d) || (type & 5) != 1) return Raise(VecGP, selErr);
        if (reason == TaskSwitchReason.Iret ? !busy : busy) return Raise(reason == TaskSwitchReason.Iret ? VecTS : VecGP, selErr);
        if (!DescPresent(d)) return Raise(VecNP, selErr);
        var newTr = SegCache.FromDescriptor(sel, d);
        bool new32 = (type & 8) != 0;
        uint minLimit = new32 ? 0x67u : 0x2Bu;
        if (newTr.Limit < minLimit) return Raise(VecTS, selErr);

        // Read the whole new TSS first.
        Span<uint> t = stackalloc uint[26];
        int words = new32 ? 26 : 22;
        for (int k = 0; k < words; k++)
        {
            uint off = new32 ? (uint)k * 4 : (uint)k * 2;
            if (!ReadLinSys(newTr.Base + off, new32 ? 4 : 2, out t[k])) return false;
        }

        // Save the outgoing task's state into its TSS.
        bool old32 = (tr.Type & 8) != 0;
        uint oldFlags = GetEflags();
        if (reason == TaskSwitchReason.Iret) oldFlags &= ~FlagNT;
        if (old32)
        {
            if (!WriteLinSys(tr.Base + 0x20, 4, eip) || !WriteLinSys(tr.Base + 0x24, 4, oldFlags)) return false;
            for (int r = 0; r < 8; r++)
                if (!WriteLinSys(tr.Base + 0x28 + (uint)r * 4, 4, R(r))) return false;
            for (int s = 0; s < 6; s++)
                if (!WriteLinSys(tr.Base + 0x48 + (uint)s * 4, 2, Seg(s).Selector)) return false;
        }
        else
        {
            if (!WriteLinSys(tr.Base + 0x0E, 2, eip) || !WriteLinSys(tr.Base + 0x10, 2, oldFlags)) return false;
            for (int r = 0; r < 8; r++)
                if (!WriteLinSys(tr.Base + 0x12 + (uint)r * 2, 2, R(r))) return false;
            for (int s = 0; s < 4; s++)
                if (!WriteLinSys(tr.Base + 0x22 + (uint)s * 2, 2, Seg(s).Selector)) return false;
        }

        // Busy bits and the back link.
        if (reason is TaskSwitchReason.Jump or TaskSwitchReason.Iret)
        {
            if (ReadDescriptor(tr.Selector, VecGP, out ulong od))
                WriteLinSys(gdtBase + (tr.Selector & 0xFFF8u) + 5, 1, (uint)(od >> 40) & ~2u);
        }
        uint newFlags = new32 ? t[9] : t[8];
        if (reason is TaskSwitchReason.Call or TaskSwitchReason.Gate)
        {
            newFlags |= FlagNT;
            if (!WriteLinSys(newTr.Base, 2, tr.Selector)) return false;
        }
        if (reason != TaskSwitchReason.Iret)
            WriteLinSys(gdtBase + (sel & 0xFFF8u) + 5, 1, (uint)(d >> 40) | 2);
        newTr.Attr |= 2;
        tr = newTr;
        taskSwitchCommitted = true;
        cr0 |= CR0_TS;

        // Load the new task's state: registers first, then the segments with their checks.
        uint newEip;
        Span<ushort> sels = stackalloc ushort[6];
        ushort ldtSel;
        if (new32)
        {
            if ((cr0 & CR0_PG) != 0 && (t[7] & 0xFFFF_F018) != cr3) { cr3 = t[7] & 0xFFFF_F018; FlushTlb(all: false); }
            newEip = t[8];
            for (int r = 0; r < 8; r++) R(r) = t[10 + r];
            for (int s = 0; s < 6; s++) sels[s] = (ushort)t[18 + s];
            ldtSel = (ushort)t[24];
        }
        else
        {
            newEip = t[7];
            for (int r = 0; r < 8; r++) R(r) = 0xFFFF_0000 | t[9 + r];
            for (int s = 0; s < 4; s++) sels[s] = (ushort)t[17 + s];
            ldtSel = (ushort)t[21];
        }
        eip = newEip;
        SetEflagsRaw(newFlags | 2);
        SetCpl(sels[CS] & 3);
        // Selectors are loaded before any descriptor, so a fault reports the new task's values.
        for (int s = 0; s < 6; s++) { Seg(s).Selector = sels[s]; Seg(s).Attr = 0; Seg(s).Refresh(false); }
        ldtr = SegCache.Make(ldtSel, 0, 0, 0);
        // From here on a fault belongs to the new task (it is delivered there, nothing is rolled back).
        if (!LoadLdtForTask(ldtSel)) return false;
        if (!LoadTaskSegments(sels)) return false;
        if (eip > Seg(CS).Limit) return Raise(VecGP, 0);
        if (hasError && !Push(error, new32)) return false;
        taskSwitchCommitted = false;
        return true;
    }

    /// <summary>Set once a task switch has replaced the register state: a fault raised after that point is
    /// delivered in the new task without rolling EIP or the stack back.</summary>
    internal bool taskSwitchCommitted;

    private bool LoadLdtForTask(ushort sel)
    {
        if ((sel & 0xFFFC) == 0) { ldtr = SegCache.Make(sel, 0, 0, 0); return true; }
        if ((sel & 4) != 0) return Raise(VecTS, sel & 0xFFFCu);
        if (!ReadDescriptor(sel, VecTS, out ulong d)) return false;
        if (DescIsSegment(d) || DescType(d) != 2) return Raise(VecTS, sel & 0xFFFCu);
        if (!DescPresent(d)) return Raise(VecTS, sel & 0xFFFCu);
        ldtr = SegCache.FromDescriptor(sel, d);
        return true;
    }

    private bool LoadTaskSegments(ReadOnlySpan<ushort> sels)
    {
        // CS: a code segment whose DPL fits its RPL (SDM Vol. 3, 7.3, step 13).
        ushort cs = sels[CS];
        if ((cs & 0xFFFC) == 0) return Raise(VecTS, 0);
        if (!ReadDescriptor(cs, VecTS, out ulong cd)) return false;
        int ct = DescType(cd);
        if (!DescIsSegment(cd) || (ct & 8) == 0) return Raise(VecTS, cs & 0xFFFCu);
        bool conf = (ct & 4) != 0;
        if (conf ? DescDpl(cd) > (cs & 3) : DescDpl(cd) != (cs & 3)) return Raise(VecTS, cs & 0xFFFCu);
        if (!DescPresent(cd)) return Raise(VecNP, cs & 0xFFFCu);
        Seg(CS) = SegCache.FromDescriptor(cs, cd | (1UL << 40));
        SetCpl(cs & 3);
        // SS
        ushort ss = sels[SS];
        if ((ss & 0xFFFC) == 0) return Raise(VecTS, 0);
        if (!ReadDescriptor(ss, VecTS, out ulong sd)) return false;
        if ((ss & 3) != cpl || DescDpl(sd) != cpl || !DescIsSegment(sd) || (DescType(sd) & 0xA) != 2)
            return Raise(VecTS, ss & 0xFFFCu);
        if (!DescPresent(sd)) return Raise(VecSS, ss & 0xFFFCu);
        Seg(SS) = SegCache.FromDescriptor(ss, sd | (1UL << 40));
        UpdateMode();
        for (int s = 0; s < 6; s++)
        {
            if (s == CS || s == SS) continue;
            ushort v = sels[s];
            if ((v & 0xFFFC) == 0) continue;
            if (!ReadDescriptor(v, VecTS, out ulong d)) return false;
            int type = DescType(d);
            bool code = (type & 8) != 0;
            if (!DescIsSegment(d) || (code && (type & 2) == 0)) return Raise(VecTS, v & 0xFFFCu);
            if ((!code || (type & 4) == 0) && ((v & 3) > DescDpl(d) || cpl > DescDpl(d))) return Raise(VecTS, v & 0xFFFCu);
            if (!DescPresent(d)) return Raise(VecNP, v & 0xFFFCu);
            Seg(s) = SegCache.FromDescriptor(v, d | (1UL << 40));
        }
        return true;
    }
}
