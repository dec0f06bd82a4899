namespace Emulator.Cpu;

/// <summary>
/// A segment register's hidden part, the descriptor cache (SDM Vol. 3, 3.4.3): base, expanded limit and the
/// access rights in VMX layout (descriptor bits 40..47 in bits 0..7, bits 52..55 in bits 12..15). Attr 0
/// marks an unusable (null) segment. Lo/SpanR/SpanW are the precomputed limit and type checks: an access
/// of n bytes at offset o is allowed when (o - Lo) + n - 1 &lt;= Span, Span being -1 when not allowed at all.
/// </summary>
internal struct SegCache
{
    public uint Base;
    public uint Limit;
    public ushort Selector;
    public ushort Attr;
    public uint Lo;
    public long SpanR;
    public long SpanW;

    public static SegCache Make(ushort selector, uint @base, uint limit, ushort attr)
    {
        var s = new SegCache { Selector = selector, Base = @base, Limit = limit, Attr = attr };
        s.Refresh(realMode: false);
        return s;
    }

    public readonly bool Present => (Attr & 0x80) != 0;
    public readonly int Dpl => (Attr >> 5) & 3;
    public readonly bool IsSystem => (Attr & 0x10) == 0;
    public readonly bool IsCode => (Attr & 0x18) == 0x18;
    public readonly bool IsConforming => (Attr & 0x1C) == 0x1C;
    public readonly bool Big => (Attr & 0x4000) != 0;
    public readonly int Type => Attr & 0xF;

    /// <summary>Recomputes the access checks. In real mode the type is not checked (SDM Vol. 3, 20.1.2), the limit is.</summary>
    public void Refresh(bool realMode)
    {
        if (!Present && !realMode) { Lo = 0; SpanR = SpanW = -1; return; }
        bool code = (Attr & 0x18) == 0x18, data = (Attr & 0x18) == 0x10;
        long lo = 0, hi = Limit;
        if (data && (Attr & 4) != 0)
        {
            lo = (long)Limit + 1;
            hi = Big ? 0xFFFF_FFFFL : 0xFFFFL;
        }
        long span = hi - lo;
        if (span < -1) span = -1;
        Lo = (uint)lo;
        bool readable = realMode || data || (code && (Attr & 2) != 0);
        bool writable = realMode || (data && (Attr & 2) != 0);
        SpanR = readable ? span : -1;
        SpanW = writable ? span : -1;
    }

    /// <summary>Decodes a segment descriptor (SDM Vol. 3, 3.4.5).</summary>
    public static SegCache FromDescriptor(ushort selector, ulong d)
    {
        uint lo = (uint)d, hi = (uint)(d >> 32);
        uint @base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF00_0000);
        uint limit = (lo & 0xFFFF) | (hi & 0xF_0000);
        if ((hi & 0x80_0000) != 0) limit = (limit << 12) | 0xFFF;
        ushort attr = (ushort)(((hi >> 8) & 0xFF) | ((hi >> 8) & 0xF000));
        return Make(selector, @base, limit, attr);
    }
}
