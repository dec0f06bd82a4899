namespace Emulator.Cpu;

/// <summary>
/// Segment register loads (SDM Vol. 3, 3.4 and 5.4-5.8): real mode (base = selector * 16, limit and
/// attributes kept, as the 386 does) and protected mode with the descriptor, privilege, type and presence
/// checks, and the accessed bit set in the table.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    internal bool ProtectedMode => (cr0 & CR0_PE) != 0;

    /// <summary>1 when CS is a 32-bit code segment: the block cache decodes per mode.</summary>
    internal uint codeMode;

    internal void UpdateMode()
    {
        codeMode = Seg(CS).Big ? 1u : 0u;
        stackMask = Seg(SS).Big ? 0xFFFF_FFFFu : 0xFFFFu;
    }

    internal void LoadSegmentRaw(int s, ushort selector, uint @base, uint limit, ushort attr)
    {
        ref SegCache sc = ref Seg(s);
        sc = new SegCache { Selector = selector, Base = @base, Limit = limit, Attr = attr };
        sc.Refresh(!ProtectedMode);
        if (s == SS || s == CS) UpdateMode();
    }

    /// <summary>Real-mode load: selector and base change, the rest of the cache stays (SDM Vol. 3, 20.1.1).</summary>
    internal void LoadSegmentReal(int s, ushort selector)
    {
        ref SegCache sc = ref Seg(s);
        sc.Selector = selector;
        sc.Base = (uint)selector << 4;
        sc.Attr = (ushort)((sc.Attr & 0xF000) | (s == CS ? 0x9B : 0x93));
        sc.Refresh(realMode: true);
    }

    /// <summary>Reads the descriptor a selector names; #GP(selector) (or <paramref name="vector"/>) when it
    /// lies outside the GDT/LDT.</summary>
    internal bool ReadDescriptor(ushort selector, int vector, out ulong desc)
    {
        desc = 0;
        uint index = selector & 0xFFF8u;
        uint tableBase, tableLimit;
        if ((selector & 4) != 0)
        {
            if (!ldtr.Present) return Raise(vector, selector & 0xFFFCu);
            tableBase = ldtr.Base; tableLimit = ldtr.Limit;
        }
        else { tableBase = gdtBase; tableLimit = gdtLimit; }
        if (index + 7 > tableLimit) return Raise(vector, selector & 0xFFFCu);
        if (!ReadLinSys(tableBase + index, 4, out uint lo)) return false;
        if (!ReadLinSys(tableBase + index + 4, 4, out uint hi)) return false;
        desc = lo | (ulong)hi << 32;
        return true;
    }

    /// <summary>Sets the accessed bit of a segment descriptor (type bit 0) if it is clear.</summary>
    internal bool MarkAccessed(ushort selector, ulong desc)
    {
        if ((desc & (1UL << 40)) != 0) return true;
        uint tableBase = (selector & 4) != 0 ? ldtr.Base : gdtBase;
        uint addr = tableBase + (selector & 0xFFF8u) + 5;
        return WriteLinSys(addr, 1, (uint)(desc >> 40) | 1);
    }

    internal static int DescDpl(ulong d) => (int)(d >> 45) & 3;
    internal static bool DescPresent(ulong d) => (d & (1UL << 47)) != 0;
    internal static bool DescIsSegment(ulong d) => (d & (1UL << 44)) != 0;
    internal static int DescType(ulong d) => (int)(d >> 40) & 0xF;

    /// <summary>MOV/POP/LDS...: loads DS, ES, FS, GS or SS with the protected-mode checks (SDM Vol. 2, MOV).</summary>
    internal bool LoadSegment(int s, ushort selector)
    {
        if (!ProtectedMode)
        {
            LoadSegmentReal(s, selector);
            if (s == SS) UpdateMode();
            return true;
        }
        int rpl = selector & 3;
        if (s == SS)
        {
            if ((selector & 0xFFFC) == 0) return Raise(VecGP, 0);
            if (!ReadDescriptor(selector, VecGP, out ulong d)) return false;
            int type = DescType(d);
            // A writable data segment with RPL = DPL = CPL.
            if (rpl != cpl || DescDpl(d) != cpl || !DescIsSegment(d) || (type & 0xA) != 2)
                return Raise(VecGP, selector & 0xFFFCu);
            if (!DescPresent(d)) return Raise(VecSS, selector & 0xFFFCu);
            if (!MarkAccessed(selector, d)) return false;
            Seg(SS) = SegCache.FromDescriptor(selector, d | (1UL << 40));
            UpdateMode();
            return true;
        }
        if ((selector & 0xFFFC) == 0)
        {
            // A null selector may be loaded into a data segment register; using it faults.
            ref SegCache n = ref Seg(s);
            n = new SegCache { Selector = selector, Base = 0, Limit = 0, Attr = 0 };
            n.Refresh(false);
            return true;
        }
        {
            if (!ReadDescriptor(selector, VecGP, out ulong d)) return false;
            int type = DescType(d);
            bool code = (type & 8) != 0;
            if (!DescIsSegment(d) || (code && (type & 2) == 0)) return Raise(VecGP, selector & 0xFFFCu);
            // Data and non-conforming code: the selector and CPL must not be more privileged than the DPL.
            if ((!code || (type & 4) == 0) && (rpl > DescDpl(d) || cpl > DescDpl(d)))
                return Raise(VecGP, selector & 0xFFFCu);
            if (!DescPresent(d)) return Raise(VecNP, selector & 0xFFFCu);
            if (!MarkAccessed(selector, d)) return false;
            Seg(s) = SegCache.FromDescriptor(selector, d | (1UL << 40));
            return true;
        }
    }

    /// <summary>After a return to an outer level, data segment registers the new CPL may not use become null
    /// (SDM Vol. 2, RET and IRET).</summary>
    internal void ClearInaccessibleSegments()
    {
        for (int s = 0; s < 6; s++)
        {
            if (s == CS || s == SS) continue;
            ref SegCache sc = ref Seg(s);
            if (!sc.Present) continue;
            bool conformingCode = sc.IsCode && sc.IsConforming;
            if (!conformingCode && sc.Dpl < cpl)
            {
                sc.Selector = 0; sc.Attr = 0;
                sc.Refresh(false);
            }
        }
    }
}
