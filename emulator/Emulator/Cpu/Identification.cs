namespace Emulator.Cpu;

/// <summary>
/// CPUID, the time-stamp counter and the model-specific registers this CPU implements (SDM Vol. 2, CPUID;
/// Vol. 4). It identifies as a GenuineIntel family 6 processor and reports exactly the features implemented:
/// fpu, pse, tsc, msr, cx8, sep, pge, cmov. MSRs: the TSC, IA32_BIOS_SIGN_ID (microcode revision 0), the
/// SYSENTER trio and the P6 performance-monitoring registers (which hold what is written; no event counts);
/// every other MSR raises #GP(0).
/// </summary>
public sealed unsafe partial class X86Cpu
{
    internal const int CpuidModel = 5, CpuidStepping = 2;

    /// <summary>CPUID.1:EDX bits (SDM Vol. 2, Table 3-11).</summary>
    internal const uint FeatureFpu = 1u << 0, FeaturePse = 1u << 3, FeatureTsc = 1u << 4, FeatureMsr = 1u << 5,
        FeatureCx8 = 1u << 8, FeatureSep = 1u << 11, FeaturePge = 1u << 13, FeatureCmov = 1u << 15;
    internal const uint Features = FeatureFpu | FeaturePse | FeatureTsc | FeatureMsr | FeatureCx8 | FeatureSep |
                                   FeaturePge | FeatureCmov;

    internal const uint MsrTsc = 0x10, MsrBiosSignId = 0x8B, MsrPerfCtr0 = 0xC1, MsrPerfCtr1 = 0xC2,
        MsrSysenterCs = 0x174, MsrSysenterEsp = 0x175, MsrSysenterEip = 0x176, MsrPerfEvtSel0 = 0x186,
        MsrPerfEvtSel1 = 0x187;

    /// <summary>P6 counters are 40 bits wide (SDM Vol. 3B, P6 family performance monitoring).</summary>
    internal const ulong PerfCounterMask = (1UL << 40) - 1;

    internal uint sysenterCs, sysenterEsp, sysenterEip;
    /// <summary>PerfCtr0/1 and PerfEvtSel0/1. No event is modelled, so the counters only change when written.</summary>
    internal ulong perfCtr0, perfCtr1;
    internal uint perfEvtSel0, perfEvtSel1;
    internal ulong tscOffset;

    internal void Cpuid()
    {
        uint leaf = R(EAX);
        switch (leaf)
        {
            case 0:
                R(EAX) = 1;
                R(EBX) = 0x756E_6547;   // "Genu"
                R(EDX) = 0x4965_6E69;   // "ineI"
                R(ECX) = 0x6C65_746E;   // "ntel"
                break;
            case 1:
                R(EAX) = 0x600 | CpuidModel << 4 | CpuidStepping;
                R(EBX) = 0; R(ECX) = 0;
                R(EDX) = Features;
                break;
            default:
                R(EAX) = R(EBX) = R(ECX) = R(EDX) = 0;
                break;
        }
    }

    internal ulong ReadTsc() => (TimeStampCounter?.Invoke() ?? (ulong)icount) + tscOffset;

    internal bool ReadMsr(uint index, out ulong value)
    {
        switch (index)
        {
            case MsrTsc: value = ReadTsc(); return true;
            // IA32_BIOS_SIGN_ID (SDM Vol. 3, 10.11.7.1): the microcode revision in bits 63:32 after CPUID.1;
            // no update was ever loaded, so 0.
            case MsrBiosSignId: value = 0; return true;
            case MsrPerfCtr0: value = perfCtr0; return true;
            case MsrPerfCtr1: value = perfCtr1; return true;
            case MsrPerfEvtSel0: value = perfEvtSel0; return true;
            case MsrPerfEvtSel1: value = perfEvtSel1; return true;
            case MsrSysenterCs: value = sysenterCs; return true;
            case MsrSysenterEsp: value = sysenterEsp; return true;
            case MsrSysenterEip: value = sysenterEip; return true;
            default: value = 0; return false;
        }
    }

    internal bool WriteMsr(uint index, ulong value)
    {
        switch (index)
        {
            case MsrTsc: tscOffset = value - (TimeStampCounter?.Invoke() ?? (ulong)icount); return true;
            case MsrBiosSignId: return true;    // software writes 0 before CPUID.1 to read the revision
            // P6 counters: WRMSR sets bits 31:0 and sign-extends bit 31 into bits 39:32.
            case MsrPerfCtr0: perfCtr0 = (ulong)(long)(int)value & PerfCounterMask; return true;
            case MsrPerfCtr1: perfCtr1 = (ulong)(long)(int)value & PerfCounterMask; return true;
            case MsrPerfEvtSel0: perfEvtSel0 = (uint)value; return true;
            case MsrPerfEvtSel1: perfEvtSel1 = (uint)value; return true;
            case MsrSysenterCs: sysenterCs = (uint)value & 0xFFFF; return true;
            case MsrSysenterEsp: sysenterEsp = (uint)value; return true;
            case MsrSysenterEip: sysenterEip = (uint)value; return true;
            default: return false;
        }
    }

    /// <summary>I/O permission: CPL &lt;= IOPL, or the TSS I/O bitmap allows every byte (SDM Vol. 1, 19.5).</summary>
    internal bool CheckIoPermission(ushort port, int size)
    {
        if (!ProtectedMode || cpl <= (int)((flagsRest >> 12) & 3)) return true;
        if ((tr.Type & 8) == 0 || tr.Limit < 0x67) return Raise(VecGP, 0);
        if (!ReadLinSys(tr.Base + 0x66, 2, out uint mapBase)) return false;
        uint at = mapBase + (uint)(port >> 3);
        if (at + 1 > tr.Limit) return Raise(VecGP, 0);
        if (!ReadLinSys(tr.Base + at, 2, out uint bits)) return false;
        uint mask = ((1u << size) - 1) << (port & 7);
        if ((bits & mask) != 0) return Raise(VecGP, 0);
        return true;
    }
}
