namespace Emulator.Cpu;

internal enum EventKind
{
    /// <summary>A processor exception: EIP is that of the faulting instruction (or the next one for traps).</summary>
    Exception,
    /// <summary>INTR from the interrupt controller.</summary>
    External,
    /// <summary>INT n: gate DPL is checked against CPL; the return address is the next instruction.</summary>
    Software,
    /// <summary>INT3 and INTO: exceptions raised by an instruction, DPL-checked like INT n.</summary>
    SoftwareException,
    /// <summary>INT1 (ICEBP) and single-step: #DB delivered as a trap, no DPL check.</summary>
    Trap,
}

/// <summary>
/// Exceptions and interrupts (SDM Vol. 3, chapter 6): real-mode IVT delivery, protected-mode IDT gates
/// (interrupt, trap and task gates) with the stack switch through the TSS, error codes, and the double-fault
/// rules (Table 6-5): contributory + contributory, or page fault + contributory/page fault, give #DF; a fault
/// while delivering #DF shuts the processor down (triple fault).
/// </summary>
public sealed unsafe partial class X86Cpu
{
    internal const int VecDE = 0, VecDB = 1, VecNMI = 2, VecBP = 3, VecOF = 4, VecBR = 5, VecUD = 6, VecNM = 7,
        VecDF = 8, VecTS = 10, VecNP = 11, VecSS = 12, VecGP = 13, VecPF = 14, VecMF = 16, VecAC = 17;

    internal int pendingVector = -1;
    internal uint pendingError;

    internal void SetPending(int vector, uint error)
    {
        pendingVector = vector;
        pendingError = error;
    }

    /// <summary>Leaves an exception pending and returns false (for helpers that return bool).</summary>
    internal bool Raise(int vector, uint error = 0)
    {
        SetPending(vector, error);
        return false;
    }

    /// <summary>Leaves an exception pending and returns <see cref="Fault"/> (for handlers).</summary>
    internal int RaiseFault(int vector, uint error = 0)
    {
        SetPending(vector, error);
        return Fault;
    }

    internal static bool HasErrorCode(int vector) =>
        vector is VecDF or VecTS or VecNP or VecSS or VecGP or VecPF or VecAC;

    private static bool IsContributory(int v) => v is VecDE or VecTS or VecNP or VecSS or VecGP;

    /// <summary>Delivers the exception a handler left pending; EIP already points at the faulting instruction.</summary>
    internal void DeliverPendingFault()
    {
        int v = pendingVector;
        uint e = pendingError;
        pendingVector = -1;
        DeliverEvent(v, EventKind.Exception, e, HasErrorCode(v));
    }

    /// <summary>Delivers an event, escalating faults raised during delivery to #DF and then to shutdown.</summary>
    internal void DeliverEvent(int vector, EventKind kind, uint error, bool hasError)
    {
        while (true)
        {
            if (TryDeliver(vector, kind, error, hasError)) return;
            int second = pendingVector;
            uint e2 = pendingError;
            pendingVector = -1;
            if (vector == VecDF && kind == EventKind.Exception)
            {
                EnterShutdown();
                return;
            }
            bool firstIsException = kind == EventKind.Exception;
            bool df = firstIsException &&
                      ((IsContributory(vector) && IsContributory(second)) ||
                       (vector == VecPF && (IsContributory(second) || second == VecPF)));
            if (df) { vector = VecDF; error = 0; hasError = true; }
            else { vector = second; error = e2; hasError = HasErrorCode(second); }
            kind = EventKind.Exception;
        }
    }

    private struct DeliverySnapshot
    {
        public uint Eip, Esp, Flags;
        public SegCache Cs, Ss;
        public int Cpl;
    }

    private DeliverySnapshot TakeSnapshot() => new()
    {
        Eip = eip, Esp = R(ESP), Flags = flagsRest, Cs = Seg(CS), Ss = Seg(SS), Cpl = cpl,
    };

    private void Restore(in DeliverySnapshot s)
    {
        eip = s.Eip; R(ESP) = s.Esp; flagsRest = s.Flags;
        Seg(CS) = s.Cs; Seg(SS) = s.Ss;
        SetCpl(s.Cpl);
        UpdateMode();
    }

    /// <summary>One delivery attempt; on failure the state is as before and the new exception is pending.</summary>
    internal bool TryDeliver(int vector, EventKind kind, uint error, bool hasError)
    {
        var snap = TakeSnapshot();
        taskSwitchCommitted = false;
        bool ok = ProtectedMode
            ? DeliverProtected(vector, kind, error, hasError)
            : DeliverReal(vector);
        if (!ok && !taskSwitchCommitted) Restore(snap);
        return ok;
    }

    /// <summary>Real mode: FLAGS, CS, IP pushed, CS:IP from the interrupt vector table (SDM Vol. 3, 20.1.4).</summary>
    private bool DeliverReal(int vector)
    {
        uint entry = (uint)vector * 4;
        if (entry + 3 > idtLimit) return Raise(VecGP, 0);
        if (!ReadLinSys(idtBase + entry, 2, out uint ip)) return false;
        if (!ReadLinSys(idtBase + entry + 2, 2, out uint cs)) return false;
        uint flags = GetEflags();
        if (!Push16(flags)) return false;
        if (!Push16(Seg(CS).Selector)) return false;
        if (!Push16(eip)) return false;
        flagsRest &= ~(FlagIF | FlagTF | FlagAC | FlagRF);
        LoadSegmentReal(CS, (ushort)cs);
        eip = ip;
        return true;
    }

    private bool DeliverProtected(int vector, EventKind kind, uint error, bool hasError)
    {
        uint ext = kind is EventKind.Exception or EventKind.External or EventKind.Trap ? 1u : 0u;
        uint idtErr = (uint)vector * 8 + 2 + ext;
        if ((uint)vector * 8 + 7 > idtLimit) return Raise(VecGP, idtErr);
        if (!ReadLinSys(idtBase + (uint)vector * 8, 4, out uint lo)) return false;
        if (!ReadLinSys(idtBase + (uint)vector * 8 + 4, 4, out uint hi)) return false;
        int type = (int)(hi >> 8) & 0x1F;
        if (type is not (0x05 or 0x06 or 0x07 or 0x0E or 0x0F)) return Raise(VecGP, idtErr);
        int gateDpl = (int)(hi >> 13) & 3;
        if (kind is EventKind.Software or EventKind.SoftwareException && gateDpl < cpl) return Raise(VecGP, (uint)vector * 8 + 2);
        if ((hi & 0x8000) == 0) return Raise(VecNP, idtErr);
        ushort sel = (ushort)(lo >> 16);
        if (type == 0x05)
            return SwitchTask(sel, TaskSwitchReason.Gate, hasError, error, ext);

        bool gate32 = (type & 8) != 0;
        uint offset = gate32 ? (lo & 0xFFFF) | (hi & 0xFFFF_0000) : lo & 0xFFFF;
        if ((sel & 0xFFFC) == 0) return Raise(VecGP, ext);
        if (!ReadDescriptor(sel, VecGP, out ulong d)) return AddExt(ext);
        int dtype = DescType(d);
        int dpl = DescDpl(d);
        if (!DescIsSegment(d) || (dtype & 8) == 0 || dpl > cpl) return Raise(VecGP, (sel & 0xFFFCu) | ext);
        if (!DescPresent(d)) return Raise(VecNP, (sel & 0xFFFCu) | ext);
        bool conforming = (dtype & 4) != 0;
        uint oldFlags = GetEflags();
        uint oldCs = Seg(CS).Selector, oldEip = eip;
        var newCs = SegCache.FromDescriptor((ushort)((sel & 0xFFFC) | (conforming ? cpl : dpl)), d);
        int newCpl = conforming ? cpl : dpl;
        if (offset > newCs.Limit) return Raise(VecGP, ext);

        if (!conforming && dpl < cpl)
        {
            // Inner privilege: the new stack comes from the TSS (SDM Vol. 3, 6.12.1).
            if (!ReadTssStack(dpl, ext, out ushort newSsSel, out uint newEsp)) return false;
            if ((newSsSel & 0xFFFC) == 0) return Raise(VecTS, ext);
            if (!ReadDescriptor(newSsSel, VecTS, out ulong sd)) return AddExt(ext);
            if ((newSsSel & 3) != dpl || DescDpl(sd) != dpl || !DescIsSegment(sd) || (DescType(sd) & 0xA) != 2)
                return Raise(VecTS, (newSsSel & 0xFFFCu) | ext);
            if (!DescPresent(sd)) return Raise(VecSS, (newSsSel & 0xFFFCu) | ext);
            uint oldSs = Seg(SS).Selector, oldEsp = R(ESP);
            if (!MarkAccessed(newSsSel, sd)) return false;
            Seg(SS) = SegCache.FromDescriptor(newSsSel, sd | (1UL << 40));
            UpdateMode();
            R(ESP) = newEsp;
            SetCpl(newCpl);
            if (!PushFrame(gate32, oldSs, oldEsp, true, oldFlags, oldCs, oldEip, hasError, error)) return false;
        }
        else if (conforming || dpl == cpl)
        {
            if (!PushFrame(gate32, 0, 0, false, oldFlags, oldCs, oldEip, hasError, error)) return false;
        }
        else return Raise(VecGP, (sel & 0xFFFCu) | ext);

        if (!MarkAccessed(sel, d)) return false;
        newCs.Attr |= 1;
        Seg(CS) = newCs;
        SetCpl(newCpl);
        UpdateMode();
        eip = offset;
        flagsRest &= ~(FlagTF | FlagNT | FlagRF | FlagVM);
        if ((type & 1) == 0) flagsRest &= ~FlagIF;   // interrupt gate
        return true;
    }

    private bool PushFrame(bool size32, uint ss, uint esp, bool withStack, uint flags, uint cs, uint ip, bool hasError, uint error)
    {
        if (size32)
        {
            if (withStack && (!Push32(ss) || !Push32(esp))) return StackFault();
            if (!Push32(flags) || !Push32(cs) || !Push32(ip)) return StackFault();
            if (hasError && !Push32(error)) return StackFault();
        }
        else
        {
            if (withStack && (!Push16(ss) || !Push16(esp))) return StackFault();
            if (!Push16(flags) || !Push16(cs) || !Push16(ip)) return StackFault();
            if (hasError && !Push16(error)) return StackFault();
        }
        return true;
    }

    /// <summary>A push during delivery that exceeds the stack limit is #SS with the stack selector.</summary>
    private bool StackFault()
    {
        if (pendingVector == VecSS) pendingError = Seg(SS).Selector & 0xFFFCu;
        return false;
    }

    /// <summary>Reads SS:ESP for a privilege level from the current TSS (SDM Vol. 3, 7.2.1).</summary>
    internal bool ReadTssStack(int level, uint ext, out ushort ss, out uint esp)
    {
        ss = 0; esp = 0;
        bool tss32 = (tr.Type & 8) != 0;
        uint off = tss32 ? (uint)level * 8 + 4 : (uint)level * 4 + 2;
        uint size = tss32 ? 8u : 4u;
        if (off + size - 1 > tr.Limit) return Raise(VecTS, (tr.Selector & 0xFFFCu) | ext);
        if (tss32)
        {
            if (!ReadLinSys(tr.Base + off, 4, out esp)) return false;
            if (!ReadLinSys(tr.Base + off + 4, 2, out uint s)) return false;
            ss = (ushort)s;
        }
        else
        {
            if (!ReadLinSys(tr.Base + off, 2, out esp)) return false;
            if (!ReadLinSys(tr.Base + off + 2, 2, out uint s)) return false;
            ss = (ushort)s;
        }
        return true;
    }

    /// <summary>Sets the EXT bit of a pending selector error code (not of a page fault's).</summary>
    private bool AddExt(uint ext)
    {
        if (pendingVector != VecPF) pendingError |= ext;
        return false;
    }

    /// <summary>INT n, INT3, INTO from a handler: EIP already points past the instruction.</summary>
    internal int SoftwareInterrupt(int vector, EventKind kind)
    {
        suppressSingleStep = true;
        if (!TryDeliver(vector, kind, 0, false)) return Fault;
        return Exit;
    }
}
