namespace Emulator.Cpu;

/// <summary>
/// Far JMP, far CALL, RETF and IRET in real and protected mode (SDM Vol. 2: JMP, CALL, RET, IRET; Vol. 3,
/// 5.8): code segments, call gates with the stack switch and parameter copy, task gates and TSSs, returns
/// to outer privilege levels. Each either completes or leaves the state as it was with a fault pending.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private bool LoadCsChecked(ushort sel, ulong d, uint offset, int newCpl)
    {
        var cs = SegCache.FromDescriptor((ushort)((sel & 0xFFFC) | newCpl), d | (1UL << 40));
        if (offset > cs.Limit) return Raise(VecGP, 0);
        if (!MarkAccessed(sel, d)) return false;
        Seg(CS) = cs;
        SetCpl(newCpl);
        UpdateMode();
        eip = offset;
        return true;
    }

    /// <summary>Checks a code segment descriptor as the target of a direct far JMP/CALL.</summary>
    private bool CheckDirectCode(ushort sel, ulong d)
    {
        int type = DescType(d), dpl = DescDpl(d), rpl = sel & 3;
        if ((type & 4) != 0) { if (dpl > cpl) return Raise(VecGP, sel & 0xFFFCu); }
        else if (rpl > cpl || dpl != cpl) return Raise(VecGP, sel & 0xFFFCu);
        if (!DescPresent(d)) return Raise(VecNP, sel & 0xFFFCu);
        return true;
    }

    internal int FarJump(ushort sel, uint offset, bool op32)
    {
        if (!ProtectedMode)
        {
            LoadSegmentReal(CS, sel);
            UpdateMode();
            eip = op32 ? offset : offset & 0xFFFF;
            return Exit;
        }
        if ((sel & 0xFFFC) == 0) return RaiseFault(VecGP, 0);
        if (!ReadDescriptor(sel, VecGP, out ulong d)) return Fault;
        int type = DescType(d), dpl = DescDpl(d), rpl = sel & 3;
        if (DescIsSegment(d))
        {
            if ((type & 8) == 0) return RaiseFault(VecGP, sel & 0xFFFCu);
            if (!CheckDirectCode(sel, d)) return Fault;
            return LoadCsChecked(sel, d, op32 ? offset : offset & 0xFFFF, cpl) ? Exit : Fault;
        }
        switch (type)
        {
            case 4: case 0xC:   // call gate
            {
                if (dpl < cpl || dpl < rpl) return RaiseFault(VecGP, sel & 0xFFFCu);
                if (!DescPresent(d)) return RaiseFault(VecNP, sel & 0xFFFCu);
                ushort target = (ushort)(d >> 16);
                uint gateOffset = type == 0xC ? (uint)(d & 0xFFFF) | (uint)(d >> 32) & 0xFFFF_0000 : (uint)(d & 0xFFFF);
                if ((target & 0xFFFC) == 0) return RaiseFault(VecGP, 0);
                if (!ReadDescriptor(target, VecGP, out ulong cd)) return Fault;
                int ct = DescType(cd), cdpl = DescDpl(cd);
                if (!DescIsSegment(cd) || (ct & 8) == 0) return RaiseFault(VecGP, target & 0xFFFCu);
                if ((ct & 4) != 0 ? cdpl > cpl : cdpl != cpl) return RaiseFault(VecGP, target & 0xFFFCu);
                if (!DescPresent(cd)) return RaiseFault(VecNP, target & 0xFFFCu);
                return LoadCsChecked(target, cd, gateOffset, cpl) ? Exit : Fault;
            }
            case 5:             // task gate
            {
                if (dpl < cpl || dpl < rpl) return RaiseFault(VecGP, sel & 0xFFFCu);
                if (!DescPresent(d)) return RaiseFault(VecNP, sel & 0xFFFCu);
                return SwitchTask((ushort)(d >> 16), TaskSwitchReason.Jump, false, 0, 0) ? Exit : Fault;
            }
            case 1: case 9:     // available TSS
                if (dpl < cpl || dpl < rpl) return RaiseFault(VecGP, sel & 0xFFFCu);
                return SwitchTask(sel, TaskSwitchReason.Jump, false, 0, 0) ? Exit : Fault;
            default:
                return RaiseFault(VecGP, sel & 0xFFFCu);
        }
    }

    internal int FarCall(ushort sel, uint offset, bool op32)
    {
        uint oldCs = Seg(CS).Selector, oldEip = eip, oldEsp = R(ESP);
        if (!ProtectedMode)
        {
            if (!Push(oldCs, op32) || !Push(oldEip, op32)) { R(ESP) = oldEsp; return Fault; }
            LoadSegmentReal(CS, sel);
            UpdateMode();
            eip = op32 ? offset : offset & 0xFFFF;
            return Exit;
        }
        if ((sel & 0xFFFC) == 0) return RaiseFault(VecGP, 0);
        if (!ReadDescriptor(sel, VecGP, out ulong d)) return Fault;
        int type = DescType(d), dpl = DescDpl(d), rpl = sel & 3;
        if (DescIsSegment(d))
        {
            if ((type & 8) == 0) return RaiseFault(VecGP, sel & 0xFFFCu);
            if (!CheckDirectCode(sel, d)) return Fault;
            uint target = op32 ? offset : offset & 0xFFFF;
            if (target > SegCache.FromDescriptor(sel, d).Limit) return RaiseFault(VecGP, 0);
            if (!Push(oldCs, op32) || !Push(oldEip, op32)) { R(ESP) = oldEsp; return Fault; }
            if (!LoadCsChecked(sel, d, target, cpl)) { R(ESP) = oldEsp; return Fault; }
            return Exit;
        }
        switch (type)
        {
            case 4: case 0xC:
                if (dpl < cpl || dpl < rpl) return RaiseFault(VecGP, sel & 0xFFFCu);
                if (!DescPresent(d)) return RaiseFault(VecNP, sel & 0xFFFCu);
                return CallGate(d, type == 0xC) ? Exit : Fault;
            case 5:
                if (dpl < cpl || dpl < rpl) return RaiseFault(VecGP, sel & 0xFFFCu);
                if (!DescPresent(d)) return RaiseFault(VecNP, sel & 0xFFFCu);
                return SwitchTask((ushort)(d >> 16), TaskSwitchReason.Call, false, 0, 0) ? Exit : Fault;
            case 1: case 9:
                if (dpl < cpl || dpl < rpl) return RaiseFault(VecGP, sel & 0xFFFCu);
                return SwitchTask(sel, TaskSwitchReason.Call, false, 0, 0) ? Exit : Fault;
            default:
                return RaiseFault(VecGP, sel & 0xFFFCu);
        }
    }

    /// <summary>CALL through a call gate, to the same or an inner privilege level (SDM Vol. 3, 5.8.5).</summary>
    private bool CallGate(ulong gate, bool gate32)
    {
        ushort target = (ushort)(gate >> 16);
        uint offset = gate32 ? (uint)(gate & 0xFFFF) | (uint)(gate >> 32) & 0xFFFF_0000 : (uint)(gate & 0xFFFF);
        int paramCount = (int)(gate >> 32) & 0x1F;
        if ((target & 0xFFFC) == 0) return Raise(VecGP, 0);
        if (!ReadDescriptor(target, VecGP, out ulong cd)) return false;
        int ct = DescType(cd), dpl = DescDpl(cd);
        if (!DescIsSegment(cd) || (ct & 8) == 0 || dpl > cpl) return Raise(VecGP, target & 0xFFFCu);
        if (!DescPresent(cd)) return Raise(VecNP, target & 0xFFFCu);
        var snap = TakeSnapshot();
        uint oldCs = Seg(CS).Selector, oldEip = eip;
        if ((ct & 4) == 0 && dpl < cpl)
        {
            if (!ReadTssStack(dpl, 0, out ushort ss, out uint esp)) return false;
            if ((ss & 0xFFFC) == 0) return Raise(VecTS, 0);
            if (!ReadDescriptor(ss, VecTS, out ulong sd)) return false;
            if ((ss & 3) != dpl || DescDpl(sd) != dpl || !DescIsSegment(sd) || (DescType(sd) & 0xA) != 2)
                return Raise(VecTS, ss & 0xFFFCu);
            if (!DescPresent(sd)) return Raise(VecSS, ss & 0xFFFCu);
            // Parameters are copied from the caller's stack.
            uint oldSs = Seg(SS).Selector, oldEsp = R(ESP);
            Span<uint> args = stackalloc uint[32];
            for (int k = 0; k < paramCount; k++)
                if (!PeekStack((uint)(k * (gate32 ? 4 : 2)), gate32, out args[k])) return false;
            if (!MarkAccessed(ss, sd)) return false;
            Seg(SS) = SegCache.FromDescriptor(ss, sd | (1UL << 40));
            UpdateMode();
            R(ESP) = esp;
            SetCpl(dpl);
            bool ok = Push(oldSs, gate32) && Push(oldEsp, gate32);
            for (int k = paramCount - 1; ok && k >= 0; k--) ok = Push(args[k], gate32);
            ok = ok && Push(oldCs, gate32) && Push(oldEip, gate32);
            if (!ok) { if (pendingVector == VecSS) pendingError = ss & 0xFFFCu; Restore(snap); return false; }
            if (!LoadCsChecked(target, cd, offset, dpl)) { Restore(snap); return false; }
            return true;
        }
        if (!Push(oldCs, gate32) || !Push(oldEip, gate32)) { Restore(snap); return false; }
        if (!LoadCsChecked(target, cd, offset, cpl)) { Restore(snap); return false; }
        return true;
    }

    /// <summary>RETF [n].</summary>
    internal int FarReturn(bool op32, uint popBytes)
    {
        uint size = op32 ? 4u : 2u;
        if (!PeekStack(0, op32, out uint newEip) || !PeekStack(size, op32, out uint csv)) return Fault;
        ushort sel = (ushort)csv;
        if (!ProtectedMode)
        {
            SetSp(Sp + 2 * size + popBytes);
            LoadSegmentReal(CS, sel);
            UpdateMode();
            eip = op32 ? newEip : newEip & 0xFFFF;
            return Exit;
        }
        return ProtectedReturn(sel, newEip, op32, popBytes, iret: false, 0) ? Exit : Fault;
    }

    /// <summary>The common part of RETF and IRET in protected mode: same or outer privilege.</summary>
    private bool ProtectedReturn(ushort sel, uint newEip, bool op32, uint popBytes, bool iret, uint newFlags)
    {
        uint size = op32 ? 4u : 2u;
        uint frame = iret ? 3 * size : 2 * size;
        if ((sel & 0xFFFC) == 0) return Raise(VecGP, 0);
        if (!ReadDescriptor(sel, VecGP, out ulong d)) return false;
        int rpl = sel & 3, type = DescType(d), dpl = DescDpl(d);
        if (!DescIsSegment(d) || (type & 8) == 0 || rpl < cpl) return Raise(VecGP, sel & 0xFFFCu);
        if ((type & 4) != 0 ? dpl > rpl : dpl != rpl) return Raise(VecGP, sel & 0xFFFCu);
        if (!DescPresent(d)) return Raise(VecNP, sel & 0xFFFCu);
        if (!op32) newEip &= 0xFFFF;
        int oldCpl = cpl;
        if (rpl == cpl)
        {
            var cs = SegCache.FromDescriptor(sel, d | (1UL << 40));
            if (newEip > cs.Limit) return Raise(VecGP, 0);
            if (!MarkAccessed(sel, d)) return false;
            SetSp(Sp + frame + popBytes);
            Seg(CS) = cs;
            UpdateMode();
            eip = newEip;
            if (iret) WriteFlagsChecked(newFlags, op32, oldCpl);
            return true;
        }
        // Outer level: the caller's SS:ESP follow the frame.
        if (!PeekStack(frame + popBytes, op32, out uint newEsp) || !PeekStack(frame + popBytes + size, op32, out uint ssv)) return false;
        ushort ss = (ushort)ssv;
        if ((ss & 0xFFFC) == 0) return Raise(VecGP, 0);
        if (!ReadDescriptor(ss, VecGP, out ulong sd)) return false;
        if ((ss & 3) != rpl || DescDpl(sd) != rpl || !DescIsSegment(sd) || (DescType(sd) & 0xA) != 2)
            return Raise(VecGP, ss & 0xFFFCu);
        if (!DescPresent(sd)) return Raise(VecSS, ss & 0xFFFCu);
        var newCs = SegCache.FromDescriptor(sel, d | (1UL << 40));
        if (newEip > newCs.Limit) return Raise(VecGP, 0);
        if (!MarkAccessed(sel, d) || !MarkAccessed(ss, sd)) return false;
        if (iret) WriteFlagsChecked(newFlags, op32, oldCpl);
        Seg(CS) = newCs;
        Seg(SS) = SegCache.FromDescriptor(ss, sd | (1UL << 40));
        SetCpl(rpl);
        UpdateMode();
        uint espVal = newEsp + (iret ? 0 : popBytes);
        R(ESP) = Seg(SS).Big ? espVal : (R(ESP) & 0xFFFF_0000) | (espVal & 0xFFFF);
        eip = newEip;
        ClearInaccessibleSegments();
        return true;
    }

    /// <summary>EFLAGS loaded by POPF/IRET: IOPL only at CPL 0, IF only when CPL &lt;= IOPL (SDM Vol. 2, POPF).</summary>
    internal void WriteFlagsChecked(uint value, bool op32, int privilege)
    {
        uint cur = GetEflags();
        uint changeable = FlagCF | FlagPF | FlagAF | FlagZF | FlagSF | FlagTF | FlagDF | FlagOF | FlagNT;
        if (op32) changeable |= FlagRF | FlagAC | FlagID;
        if (!ProtectedMode || privilege == 0) changeable |= FlagIOPL | FlagIF;
        else if (privilege <= (int)((cur >> 12) & 3)) changeable |= FlagIF;
        SetEflagsRaw((cur & ~changeable) | (value & changeable));
    }

    internal int Iret(bool op32)
    {
        if (!ProtectedMode)
        {
            uint size = op32 ? 4u : 2u;
            if (!PeekStack(0, op32, out uint ip) || !PeekStack(size, op32, out uint csv) || !PeekStack(2 * size, op32, out uint fl))
                return Fault;
            SetSp(Sp + 3 * size);
            LoadSegmentReal(CS, (ushort)csv);
            UpdateMode();
            eip = op32 ? ip : ip & 0xFFFF;
            uint cur = GetEflags();
            uint v = op32 ? fl : (cur & 0xFFFF_0000) | (fl & 0xFFFF);
            SetEflagsRaw(v);
            return Exit;
        }
        if ((flagsRest & FlagNT) != 0)
        {
            // Return from a nested task: the back link in the current TSS (SDM Vol. 3, 7.3).
            if (!ReadLinSys(tr.Base, 2, out uint link)) return Fault;
            return SwitchTask((ushort)link, TaskSwitchReason.Iret, false, 0, 0) ? Exit : Fault;
        }
        {
            uint size = op32 ? 4u : 2u;
            if (!PeekStack(0, op32, out uint ip) || !PeekStack(size, op32, out uint csv) || !PeekStack(2 * size, op32, out uint fl))
                return Fault;
            if (!op32) fl = (GetEflags() & 0xFFFF_0000) | (fl & 0xFFFF);
            return ProtectedReturn((ushort)csv, ip, op32, 0, iret: true, fl) ? Exit : Fault;
        }
    }
}
