using System.Runtime.CompilerServices;

namespace Emulator.Cpu;

/// <summary>
/// Operand accesses through a segment: the limit and type checks of the descriptor cache (SDM Vol. 3, 5.3),
/// then the linear access. A violation raises #GP(0), or #SS(0) for the stack segment in protected mode;
/// in real mode the 286/386 raise #GP (interrupt 13) for both, as the captures from real chips show.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref SegCache Seg(int s) => ref Unsafe.Add(ref Unsafe.As<SegmentFile, SegCache>(ref segs), s);

    [MethodImpl(MethodImplOptions.NoInlining)]
    internal bool SegFault(int seg)
    {
        int vec = seg == SS && (cr0 & CR0_PE) != 0 ? VecSS : VecGP;
        SetPending(vec, 0);
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Read8(int seg, uint off, out uint v)
    {
        ref SegCache s = ref Seg(seg);
        if ((long)(off - s.Lo) > s.SpanR) { v = 0; return SegFault(seg); }
        return ReadLin8(s.Base + off, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Read16(int seg, uint off, out uint v)
    {
        ref SegCache s = ref Seg(seg);
        if ((long)(off - s.Lo) + 1 > s.SpanR) { v = 0; return SegFault(seg); }
        return ReadLin16(s.Base + off, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Read32(int seg, uint off, out uint v)
    {
        ref SegCache s = ref Seg(seg);
        if ((long)(off - s.Lo) + 3 > s.SpanR) { v = 0; return SegFault(seg); }
        return ReadLin32(s.Base + off, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Write8(int seg, uint off, uint v)
    {
        ref SegCache s = ref Seg(seg);
        if ((long)(off - s.Lo) > s.SpanW) return SegFault(seg);
        return WriteLin8(s.Base + off, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Write16(int seg, uint off, uint v)
    {
        ref SegCache s = ref Seg(seg);
        if ((long)(off - s.Lo) + 1 > s.SpanW) return SegFault(seg);
        return WriteLin16(s.Base + off, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Write32(int seg, uint off, uint v)
    {
        ref SegCache s = ref Seg(seg);
        if ((long)(off - s.Lo) + 3 > s.SpanW) return SegFault(seg);
        return WriteLin32(s.Base + off, v);
    }

    /// <summary>Read-modify-write operand: checks the segment for writing and the page for writing (so the
    /// write that follows cannot fault), then reads. Returns the linear address for <see cref="RmwEnd{W}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool RmwBegin<W>(int seg, uint off, out uint lin, out uint v) where W : IWidth
    {
        ref SegCache s = ref Seg(seg);
        lin = s.Base + off;
        if ((long)(off - s.Lo) + (W.Bits / 8 - 1) > s.SpanW) { v = 0; return SegFault(seg); }
        TlbEntry* e = tlbW + ((lin >> 12) & TlbMask);
        if (e->Tag == ((lin + (uint)(W.Bits / 8 - 1)) & 0xFFFF_F000))
        {
            byte* p = ram + (lin + e->Addend);
            v = W.Bits == 8 ? *p : W.Bits == 16 ? *(ushort*)p : *(uint*)p;
            return true;
        }
        if (!ProbeWrite(lin, W.Bits / 8)) { v = 0; return false; }
        return W.ReadLin(this, lin, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void RmwEnd<W>(uint lin, uint v) where W : IWidth => W.WriteLin(this, lin, v);

    /// <summary>Checks a range of a segment for a later access without touching memory.</summary>
    internal bool CheckSegment(int seg, uint off, int size, bool write)
    {
        ref SegCache s = ref Seg(seg);
        long span = write ? s.SpanW : s.SpanR;
        if ((long)(off - s.Lo) + (size - 1) > span) return SegFault(seg);
        return true;
    }

    // ---- the stack (SS:SP or SS:ESP by SS.B; SDM Vol. 1, 6.2) ---------------------------------------------

    /// <summary>0xFFFF with a 16-bit stack segment, else 0xFFFFFFFF.</summary>
    internal uint stackMask = 0xFFFF;

    internal uint Sp => R(ESP) & stackMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetSp(uint v) => R(ESP) = (R(ESP) & ~stackMask) | (v & stackMask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Push16(uint v)
    {
        uint sp = (R(ESP) - 2) & stackMask;
        if (!Write16(SS, sp, v)) return false;
        SetSp(sp);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Push32(uint v)
    {
        uint sp = (R(ESP) - 4) & stackMask;
        if (!Write32(SS, sp, v)) return false;
        SetSp(sp);
        return true;
    }

    internal bool Push(uint v, bool size32) => size32 ? Push32(v) : Push16(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Pop16(out uint v)
    {
        uint sp = R(ESP) & stackMask;
        if (!Read16(SS, sp, out v)) return false;
        SetSp(sp + 2);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Pop32(out uint v)
    {
        uint sp = R(ESP) & stackMask;
        if (!Read32(SS, sp, out v)) return false;
        SetSp(sp + 4);
        return true;
    }

    /// <summary>Reads the stack at SP + <paramref name="offset"/> without popping.</summary>
    internal bool PeekStack(uint offset, bool size32, out uint v)
    {
        uint sp = (R(ESP) + offset) & stackMask;
        return size32 ? Read32(SS, sp, out v) : Read16(SS, sp, out v);
    }
}
