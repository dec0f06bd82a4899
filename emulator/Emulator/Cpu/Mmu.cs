using System.Runtime.CompilerServices;
using Emulator.Bus;

namespace Emulator.Cpu;

/// <summary>A software TLB entry: linear page tag and the addend that turns a linear address into an offset in
/// guest RAM. Tag 1 (never page-aligned) is empty.</summary>
internal struct TlbEntry
{
    public uint Tag;
    public uint Addend;
}

/// <summary>
/// Paging (SDM Vol. 3, 4.3: 32-bit paging with 4 KiB and PSE 4 MiB pages, A/D bits, U/S, R/W with CR0.WP,
/// global pages) and the software TLB. Four direct-mapped TLBs: reads and writes, for supervisor and user
/// privilege; they only hold RAM pages, so a hit reads or writes host memory directly. A write entry exists
/// only when the page is writable at that privilege, already dirty, and holds no decoded code; every other
/// access takes the slow path through the page walk and the memory bus. Linear addresses are translated even
/// with paging off (identity with the A20 mask), so the fast path is the same in every mode.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    internal const int TlbBits = 10;
    internal const int TlbSize = 1 << TlbBits;
    internal const uint TlbMask = TlbSize - 1;
    private const uint TlbEmpty = 1;

    private TlbEntry[] tlbStore = null!;
    private byte[] tlbGlobal = null!;
    private TlbEntry* tlbRS, tlbWS, tlbRU, tlbWU;
    internal TlbEntry* tlbR, tlbW;
    private bool tlbHasLarge;

    // Page-fault error code bits (SDM Vol. 3, 4.7).
    private const uint PfPresent = 1, PfWrite = 2, PfUser = 4;
    // Access kinds for a translation.
    internal const int AccRead = 0, AccWrite = 1, AccUser = 2, AccFetch = 4;

    private void InitTlb()
    {
        tlbStore = GC.AllocateArray<TlbEntry>(5 * TlbSize, pinned: true);
        tlbGlobal = new byte[5 * TlbSize];
        var p = (TlbEntry*)Unsafe.AsPointer(ref tlbStore[0]);
        tlbRS = p; tlbWS = p + TlbSize; tlbRU = p + 2 * TlbSize; tlbWU = p + 3 * TlbSize; tlbNone = p + 4 * TlbSize;
        FlushTlb(all: true);
        tlbR = tlbRS; tlbW = tlbWS;
    }

    /// <summary>An always-empty TLB: selected while alignment checking is on, so that every access takes the
    /// slow path, which checks alignment. The fast path stays free of the check.</summary>
    private TlbEntry* tlbNone;
    private bool alignmentCheck;

    internal void SetCpl(int level)
    {
        if (level != cpl) fetchEpoch++;
        cpl = level;
        UpdateTlbPointers();
    }

    /// <summary>Picks the TLBs for the CPL; alignment checking (#AC) applies at CPL 3 with CR0.AM and
    /// EFLAGS.AC set (SDM Vol. 3, 6.15, interrupt 17).</summary>
    internal void UpdateTlbPointers()
    {
        if (tlbNone == null) return;
        alignmentCheck = cpl == 3 && (cr0 & CR0_AM) != 0 && (flagsRest & FlagAC) != 0;
        if (alignmentCheck) { tlbR = tlbNone; tlbW = tlbNone; }
        else if (cpl == 3) { tlbR = tlbRU; tlbW = tlbWU; }
        else { tlbR = tlbRS; tlbW = tlbWS; }
    }

    private bool Misaligned(uint lin, int size, bool system) =>
        alignmentCheck && !system && size > 1 && (lin & (uint)(size - 1)) != 0;

    /// <summary>Drops TLB entries: all of them, or those not marked global (a CR3 load with CR4.PGE).</summary>
    internal void FlushTlb(bool all)
    {
        fetchEpoch++;
        if (tlbStore == null) return;
        bool keepGlobal = !all && (cr4 & CR4_PGE) != 0;
        for (int k = 0; k < tlbStore.Length; k++)
            if (!keepGlobal || tlbGlobal[k] == 0) { tlbStore[k].Tag = TlbEmpty; tlbGlobal[k] = 0; }
        if (!keepGlobal) tlbHasLarge = false;
    }

    /// <summary>INVLPG: drops the translation of one page (all pieces of a 4 MiB page).</summary>
    internal void InvalidatePage(uint lin)
    {
        fetchEpoch++;
        if (tlbHasLarge)
        {
            uint region = lin & 0xFFC0_0000;
            for (int k = 0; k < tlbStore.Length; k++)
                if ((tlbStore[k].Tag & 0xFFC0_0000) == region && tlbStore[k].Tag != TlbEmpty) tlbStore[k].Tag = TlbEmpty;
            return;
        }
        uint tag = lin & 0xFFFF_F000;
        int idx = (int)((lin >> 12) & TlbMask);
        for (int set = 0; set < 4; set++)
            if (tlbStore[set * TlbSize + idx].Tag == tag) tlbStore[set * TlbSize + idx].Tag = TlbEmpty;
    }

    /// <summary>Removes write entries that point at a physical page (it now holds decoded code).</summary>
    private void DropWriteEntries(uint physPage)
    {
        uint target = physPage << 12;
        for (int k = 0; k < TlbSize; k++)
        {
            if (tlbWS[k].Tag != TlbEmpty && tlbWS[k].Tag + tlbWS[k].Addend == target) tlbWS[k].Tag = TlbEmpty;
            if (tlbWU[k].Tag != TlbEmpty && tlbWU[k].Tag + tlbWU[k].Addend == target) tlbWU[k].Tag = TlbEmpty;
        }
    }

    private void OnPagingControlChanged()
    {
        FlushTlb(all: true);
        bool pe = (cr0 & CR0_PE) != 0;
        for (int s = 0; s < 6; s++) Seg(s).Refresh(!pe);
        if (!pe) SetCpl(0);
        UpdateMode();
    }

    private void OnMappingChanged(uint first, uint count)
    {
        FlushTlb(all: true);
        InvalidateCodeRange(first, count);
    }

    /// <summary>
    /// Walks the page tables for one access. On success gives the physical address (A20 applied) and whether
    /// the TLB may map the page for writes at this privilege; on failure leaves #PF pending with CR2 set.
    /// </summary>
    internal bool Translate(uint lin, int access, out uint phys, out bool writable, out bool global)
    {
        uint a20 = mem.A20Mask;
        if ((cr0 & CR0_PG) == 0)
        {
            phys = lin & a20; writable = true; global = false;
            return true;
        }
        bool user = (access & AccUser) != 0, write = (access & AccWrite) != 0;
        bool wp = (cr0 & CR0_WP) != 0;
        uint pdeAddr = ((cr3 & 0xFFFF_F000) | ((lin >> 20) & 0xFFC)) & a20;
        uint pde = mem.Read32(pdeAddr);
        phys = 0; writable = false; global = false;
        if ((pde & 1) == 0) return PageFault(lin, access, 0);
        if ((pde & 0x80) != 0 && (cr4 & CR4_PSE) != 0)
        {
            if (!Allowed(pde, user, write, wp)) return PageFault(lin, access, PfPresent);
            uint upd = pde | 0x20 | (write ? 0x40u : 0);
            if (upd != pde) { mem.Write32(pdeAddr, upd); pde = upd; }
            phys = ((pde & 0xFFC0_0000) | (lin & 0x003F_FFFF)) & a20;
            writable = (pde & 0x40) != 0 && Allowed(pde, user, true, wp);
            global = (pde & 0x100) != 0 && (cr4 & CR4_PGE) != 0;
            tlbHasLarge = true;
            return true;
        }
        uint pteAddr = ((pde & 0xFFFF_F000) | ((lin >> 10) & 0xFFC)) & a20;
        uint pte = mem.Read32(pteAddr);
        if ((pte & 1) == 0) return PageFault(lin, access, 0);
        uint perm = pde & pte;                         // U/S and R/W must allow at both levels
        if (!Allowed(perm, user, write, wp)) return PageFault(lin, access, PfPresent);
        if ((pde & 0x20) == 0) mem.Write32(pdeAddr, pde | 0x20);
        uint newPte = pte | 0x20 | (write ? 0x40u : 0);
        if (newPte != pte) { mem.Write32(pteAddr, newPte); pte = newPte; }
        phys = ((pte & 0xFFFF_F000) | (lin & 0xFFF)) & a20;
        writable = (pte & 0x40) != 0 && Allowed(perm, user, true, wp);
        global = (pte & 0x100) != 0 && (cr4 & CR4_PGE) != 0;
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Allowed(uint perm, bool user, bool write, bool wp)
    {
        if (user && (perm & 4) == 0) return false;
        if (write && (perm & 2) == 0 && (user || wp)) return false;
        return true;
    }

    private bool PageFault(uint lin, int access, uint present)
    {
        cr2 = lin;
        uint err = present | ((access & AccWrite) != 0 ? PfWrite : 0) | ((access & AccUser) != 0 ? PfUser : 0);
        SetPending(VecPF, err);
        return false;
    }

    private void FillTlb(uint lin, uint phys, int access, bool writable, bool global)
    {
        uint page = phys >> 12;
        if (phys >= ramSize) return;
        bool user = (access & AccUser) != 0;
        int idx = (int)((lin >> 12) & TlbMask);
        uint tag = lin & 0xFFFF_F000;
        uint addend = (phys & 0xFFFF_F000) - tag;
        int set = user ? 2 : 0;
        if (mem.ReadRoute[page] == MemoryBus.RouteRam)
        {
            ref TlbEntry r = ref tlbStore[set * TlbSize + idx];
            r.Tag = tag; r.Addend = addend;
            tlbGlobal[set * TlbSize + idx] = global ? (byte)1 : (byte)0;
        }
        if (writable && mem.WriteRoute[page] == MemoryBus.RouteRam && mem.CodePages[page] == 0)
        {
            ref TlbEntry w = ref tlbStore[(set + 1) * TlbSize + idx];
            w.Tag = tag; w.Addend = addend;
            tlbGlobal[(set + 1) * TlbSize + idx] = global ? (byte)1 : (byte)0;
        }
    }

    /// <summary>Translates and fills the TLB; the access privilege is the CPL unless <paramref name="system"/>.</summary>
    private bool TranslateAndFill(uint lin, bool write, bool system, out uint phys)
    {
        int access = (write ? AccWrite : AccRead) | (!system && cpl == 3 ? AccUser : 0);
        if (!Translate(lin, access, out phys, out bool writable, out bool global)) return false;
        FillTlb(lin, phys, access, writable, global);
        return true;
    }

    // ---- linear accesses: fast path through the TLB, slow path through the walk and the bus ----------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ReadLin8(uint lin, out uint v)
    {
        TlbEntry* e = tlbR + ((lin >> 12) & TlbMask);
        if (e->Tag == (lin & 0xFFFF_F000)) { v = ram[lin + e->Addend]; return true; }
        return ReadLinSlow(lin, 1, false, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ReadLin16(uint lin, out uint v)
    {
        TlbEntry* e = tlbR + ((lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 1) & 0xFFFF_F000)) { v = *(ushort*)(ram + (lin + e->Addend)); return true; }
        return ReadLinSlow(lin, 2, false, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ReadLin32(uint lin, out uint v)
    {
        TlbEntry* e = tlbR + ((lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 3) & 0xFFFF_F000)) { v = *(uint*)(ram + (lin + e->Addend)); return true; }
        return ReadLinSlow(lin, 4, false, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool WriteLin8(uint lin, uint v)
    {
        TlbEntry* e = tlbW + ((lin >> 12) & TlbMask);
        if (e->Tag == (lin & 0xFFFF_F000)) { ram[lin + e->Addend] = (byte)v; return true; }
        return WriteLinSlow(lin, 1, v, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool WriteLin16(uint lin, uint v)
    {
        TlbEntry* e = tlbW + ((lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 1) & 0xFFFF_F000)) { *(ushort*)(ram + (lin + e->Addend)) = (ushort)v; return true; }
        return WriteLinSlow(lin, 2, v, false);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool WriteLin32(uint lin, uint v)
    {
        TlbEntry* e = tlbW + ((lin >> 12) & TlbMask);
        if (e->Tag == ((lin + 3) & 0xFFFF_F000)) { *(uint*)(ram + (lin + e->Addend)) = v; return true; }
        return WriteLinSlow(lin, 4, v, false);
    }

    /// <summary>Reads with supervisor privilege whatever the CPL (descriptor tables, TSS: SDM Vol. 3, 5.4).</summary>
    internal bool ReadLinSys(uint lin, int size, out uint v) => ReadLinSlow(lin, size, true, out v);
    internal bool WriteLinSys(uint lin, int size, uint v) => WriteLinSlow(lin, size, v, true);

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal bool ReadLinSlow(uint lin, int size, bool system, out uint v)
    {
        v = 0;
        if (Misaligned(lin, size, system)) return Raise(VecAC, 0);
        if ((lin & 0xFFF) + (uint)size > 0x1000)
        {
            for (int k = 0; k < size; k++)
            {
                if (!ReadLinSlow(lin + (uint)k, 1, system, out uint b)) return false;
                v |= b << (8 * k);
            }
            return true;
        }
        if (!TranslateAndFill(lin, false, system, out uint phys)) return false;
        v = size switch { 1 => mem.Read8(phys), 2 => mem.Read16(phys), _ => mem.Read32(phys) };
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal bool WriteLinSlow(uint lin, int size, uint v, bool system)
    {
        if (Misaligned(lin, size, system)) return Raise(VecAC, 0);
        if ((lin & 0xFFF) + (uint)size > 0x1000)
        {
            // Both pages must allow the write before any byte is written (the instruction stays restartable).
            uint second = (lin + (uint)size - 1) & 0xFFFF_F000;
            if (!TranslateAndFill(lin, true, system, out uint p1)) return false;
            if (!TranslateAndFill(second, true, system, out uint p2)) return false;
            for (int k = 0; k < size; k++)
            {
                uint a = lin + (uint)k;
                uint p = (a & 0xFFFF_F000) == (lin & 0xFFFF_F000) ? p1 + (uint)k : p2 + (a & 0xFFF);
                mem.Write8(p, (byte)(v >> (8 * k)));
            }
            return true;
        }
        if (!TranslateAndFill(lin, true, system, out uint phys)) return false;
        switch (size)
        {
            case 1: mem.Write8(phys, (byte)v); break;
            case 2: mem.Write16(phys, (ushort)v); break;
            default: mem.Write32(phys, v); break;
        }
        return true;
    }

    /// <summary>Checks that a write would succeed (page present and writable) without writing.</summary>
    internal bool ProbeWrite(uint lin, int size)
    {
        if (Misaligned(lin, size, false)) return Raise(VecAC, 0);
        TlbEntry* e = tlbW + ((lin >> 12) & TlbMask);
        if (e->Tag == ((lin + (uint)size - 1) & 0xFFFF_F000)) return true;
        if (!TranslateAndFill(lin, true, false, out _)) return false;
        uint last = lin + (uint)size - 1;
        if ((last & 0xFFFF_F000) != (lin & 0xFFFF_F000) && !TranslateAndFill(last, true, false, out _)) return false;
        return true;
    }

    /// <summary>Instruction fetch translation (reads at the CPL).</summary>
    internal bool TranslateFetch(uint lin, out uint phys)
    {
        TlbEntry* e = tlbR + ((lin >> 12) & TlbMask);
        if (e->Tag == (lin & 0xFFFF_F000)) { phys = lin + e->Addend; return true; }
        int access = AccRead | AccFetch | (cpl == 3 ? AccUser : 0);
        if (!Translate(lin, access, out phys, out bool writable, out bool global)) return false;
        FillTlb(lin, phys, access, writable, global);
        return true;
    }
}
