namespace Emulator.Cpu;

/// <summary>
/// Bulk execution of REP MOVS and REP STOS with 32-bit addressing and DF = 0: runs of elements that lie inside
/// one page of the source and one of the destination, both already in the TLB, are copied or filled in host
/// memory at once, with the same result as element by element. Anything else (a TLB miss, an element
/// straddling a page, a segment limit, overlap in the direction that replicates data, a code page, which is
/// never in the write TLB) is left to the element loop, which faults, fills the TLB or invalidates code
/// exactly as the architecture requires.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private const long BulkBytesPerCall = 256 << 10;

    /// <summary>Copies while it can; true when ECX reached zero.</summary>
    internal bool BulkRepMovs(int srcSeg, int size)
    {
        ref SegCache s = ref Seg(srcSeg);
        ref SegCache d = ref Seg(ES);
        uint count = R(ECX);
        long budget = BulkBytesPerCall;
        while (count != 0 && budget > 0)
        {
            uint si = R(ESI), di = R(EDI);
            long srcRoom = s.SpanR - (uint)(si - s.Lo) + 1, dstRoom = d.SpanW - (uint)(di - d.Lo) + 1;
            uint sl = s.Base + si, dl = d.Base + di;
            TlbEntry* es = tlbR + ((sl >> 12) & TlbMask), ed = tlbW + ((dl >> 12) & TlbMask);
            if (es->Tag != (sl & 0xFFFF_F000) || ed->Tag != (dl & 0xFFFF_F000)) return false;
            long room = Math.Min(Math.Min(0x1000 - (sl & 0xFFF), 0x1000 - (dl & 0xFFF)), Math.Min(srcRoom, dstRoom));
            long n = Math.Min(count, room / size);
            if (n <= 0) return false;
            long bytes = n * size;
            byte* sp = ram + (sl + es->Addend), dp = ram + (dl + ed->Addend);
            if (dp > sp && dp < sp + bytes) return false;   // forward copy onto itself: element loop
            Buffer.MemoryCopy(sp, dp, bytes, bytes);
            count -= (uint)n;
            R(ESI) = si + (uint)bytes;
            R(EDI) = di + (uint)bytes;
            R(ECX) = count;
            budget -= bytes;
        }
        return count == 0;
    }

    /// <summary>Fills while it can; true when ECX reached zero.</summary>
    internal bool BulkRepStos(uint value, int size)
    {
        ref SegCache d = ref Seg(ES);
        uint count = R(ECX);
        long budget = BulkBytesPerCall;
        while (count != 0 && budget > 0)
        {
            uint di = R(EDI);
            long dstRoom = d.SpanW - (uint)(di - d.Lo) + 1;
            uint dl = d.Base + di;
            TlbEntry* ed = tlbW + ((dl >> 12) & TlbMask);
            if (ed->Tag != (dl & 0xFFFF_F000)) return false;
            long n = Math.Min(count, Math.Min(0x1000 - (dl & 0xFFF), dstRoom) / size);
            if (n <= 0) return false;
            byte* dp = ram + (dl + ed->Addend);
            switch (size)
            {
                case 1: new Span<byte>(dp, (int)n).Fill((byte)value); break;
                case 2: new Span<ushort>(dp, (int)n).Fill((ushort)value); break;
                default: new Span<uint>(dp, (int)n).Fill(value); break;
            }
            count -= (uint)n;
            R(EDI) = di + (uint)(n * size);
            R(ECX) = count;
            budget -= n * size;
        }
        return count == 0;
    }
}
