using System.Runtime.CompilerServices;
using Emulator.Bus;
using Iced.Intel;

namespace Emulator.Cpu;

/// <summary>
/// The decoded-code cache. A block is decoded with Iced once and cached by (physical address, code size);
/// blocks never cross a 4 KiB page, so a write to a page (CPU or DMA, reported through
/// <see cref="MemoryBus.CodePages"/>) drops exactly the blocks decoded from it. RAM pages holding code are
/// kept out of the write TLB, so every write to them takes the slow path that reports it. An instruction that
/// straddles two pages, and code outside RAM and ROM, is decoded for one execution only.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    private const int HashBits = 16;
    private const int MaxBlockInsns = 48;

    private Block?[] blockHash = null!;
    private Dictionary<uint, Block> pageBlocks = null!;
    /// <summary>Physical page of the block being executed (NoPage between blocks): a write that drops the
    /// blocks of this page ends the running block after the current instruction.</summary>
    internal uint currentPage = NoPage;
    internal const uint NoPage = 0xFFFF_FFFF;
    private Block transient = null!;
    private Insn[] scratch = null!;
    private CodeBuffer codeReader = null!;
    private Decoder decoder16 = null!, decoder32 = null!;
    private byte[] fetchBuffer = null!;

    /// <summary>Blocks decoded since power-on (diagnostics and tests).</summary>
    public long BlocksDecoded { get; private set; }

    private void InitBlockCache()
    {
        blockHash = new Block?[1 << HashBits];
        pageBlocks = new Dictionary<uint, Block>();
        transient = new Block { Ops = new Insn[1] };
        scratch = new Insn[MaxBlockInsns];
        codeReader = new CodeBuffer();
        var options = DecoderOptions.NoMPFX_0FBC | DecoderOptions.NoMPFX_0FBD;
        decoder16 = Decoder.Create(16, codeReader, options);
        decoder32 = Decoder.Create(32, codeReader, options);
        fetchBuffer = GC.AllocateArray<byte>(4096 + 32, pinned: true);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int HashOf(uint phys, uint mode) => (int)(((phys ^ (mode << 31)) * 0x9E37_79B1u) >> (32 - HashBits));

    // Block chaining: the block just run and the page it was fetched from. A block that follows it in the
    // same linear page is reached through the links of its predecessor, without translating EIP or hashing:
    // the translation cannot have changed while nothing flushed the TLB or changed the CPL (fetchEpoch).
    private Block? lastBlock;
    private uint lastLinPage, lastPhysPage;
    private ulong lastEpoch;
    /// <summary>Advanced whenever code translations may change: TLB flushes, INVLPG, CPL changes.</summary>
    internal ulong fetchEpoch;

    /// <summary>The block at CS:EIP, or null after delivering the fault its fetch raised.</summary>
    private Block? FetchBlock()
    {
        ref SegCache cs = ref Seg(CS);
        if (eip > cs.Limit)
        {
            SetPending(VecGP, 0);
            DeliverPendingFault();
            return null;
        }
        uint lin = cs.Base + eip;
        uint mode = codeMode;
        Block? prev = lastBlock;
        bool samePage = prev != null && fetchEpoch == lastEpoch && (lin & 0xFFFF_F000) == lastLinPage;
        if (samePage)
        {
            uint phys = lastPhysPage | (lin & 0xFFF);
            Block? c = prev!.Link0;
            if (c == null || c.Phys != phys) c = prev.Link1;
            if (c != null && c.Phys == phys && c.Valid && c.Mode == mode && (ulong)eip + c.ByteLength - 1 <= cs.Limit)
            {
                if (!ReferenceEquals(c, prev)) lastBlock = c;      // a loop onto itself needs no store
                return c;
            }
        }
        Block? b = Lookup(lin, mode, cs.Limit);
        if (b == null || b.Transient) { lastBlock = null; return b; }
        if (samePage)
        {
            // Keep the two most recent successors (a conditional branch has two).
            if (prev!.Link0 != null && prev.Link0 != b) prev.Link1 = prev.Link0;
            prev.Link0 = b;
        }
        lastBlock = b;
        lastLinPage = lin & 0xFFFF_F000;
        lastPhysPage = b.Phys & 0xFFFF_F000;
        lastEpoch = fetchEpoch;
        return b;
    }

    private Block? Lookup(uint lin, uint mode, uint limit)
    {
        if (!TranslateFetch(lin, out uint phys))
        {
            DeliverPendingFault();
            return null;
        }
        for (Block? b = blockHash[HashOf(phys, mode)]; b != null; b = b.HashNext)
        {
            if (b.Phys == phys && b.Mode == mode)
            {
                if ((ulong)eip + b.ByteLength - 1 <= limit) return b;
                break;
            }
        }
        return Decode(lin, phys, mode, limit);
    }

    private Block? Decode(uint lin, uint phys, uint mode, uint limit)
    {
        uint page = phys >> 12;
        int off = (int)(phys & 0xFFF);
        int avail = 4096 - off;
        bool isRam = phys < ramSize && mem.ReadRoute[page] == MemoryBus.RouteRam;
        bool cacheable = isRam || mem.IsRomPage(page);
        byte* src;
        if (isRam) src = ram + (phys & 0xFFFF_F000);
        else
        {
            fixed (byte* fb = fetchBuffer)
            {
                uint pbase = phys & 0xFFFF_F000;
                for (int k = off; k < 4096; k++) fb[k] = mem.Read8(pbase + (uint)k);
                src = fb;                       // the buffer is pinned
            }
        }
        var dec = mode != 0 ? decoder32 : decoder16;
        codeReader.Set(src + off, avail);
        dec.IP = eip;
        int count = 0;
        uint bytes = 0;
        while (count < MaxBlockInsns)
        {
            int at = codeReader.Position;
            dec.Decode(out Instruction ins);
            if (ins.IsInvalid && dec.LastError == DecoderError.NoMoreBytes)
            {
                if (count == 0) return DecodeStraddling(lin, phys, mode, limit, src + off, avail);
                break;
            }
            if ((ulong)eip + bytes + (uint)ins.Length - 1 > limit)
            {
                if (count > 0) break;
                SetPending(VecGP, 0);
                DeliverPendingFault();
                return null;
            }
            if (count > 0 && Translator.ReadsTheClock(in ins)) break;
            ref Insn o = ref scratch[count];
            bool ends = Translator.Translate(in ins, ref o, new ReadOnlySpan<byte>(src + off + at, ins.Length));
            count++;
            bytes += (uint)ins.Length;
            if (ends) break;
        }
        bool fitsLimit = true;
        var block = new Block
        {
            Ops = scratch.AsSpan(0, count).ToArray(),
            Count = count, Phys = phys, Mode = mode, ByteLength = bytes, Valid = true,
        };
        BlocksDecoded++;
        if (cacheable && fitsLimit) Insert(block, page, isRam);
        else block.Transient = true;
        return block;
    }

    /// <summary>One instruction whose bytes continue on the next page: decoded for this execution only.</summary>
    private Block? DecodeStraddling(uint lin, uint phys, uint mode, uint limit, byte* first, int avail)
    {
        uint nextLin = (lin & 0xFFFF_F000) + 0x1000;
        if (!TranslateFetch(nextLin, out uint nextPhys))
        {
            DeliverPendingFault();
            return null;
        }
        Span<byte> buf = stackalloc byte[16];
        for (int k = 0; k < avail; k++) buf[k] = first[k];
        for (int k = avail; k < 16; k++) buf[k] = mem.Read8(nextPhys + (uint)(k - avail));
        fixed (byte* p = buf)
        {
            var dec = mode != 0 ? decoder32 : decoder16;
            codeReader.Set(p, 15);
            dec.IP = eip;
            dec.Decode(out Instruction ins);
            if ((ulong)eip + (uint)ins.Length - 1 > limit)
            {
                SetPending(VecGP, 0);
                DeliverPendingFault();
                return null;
            }
            Translator.Translate(in ins, ref transient.Ops[0], new ReadOnlySpan<byte>(p, ins.Length));
            transient.Count = 1;
            transient.Phys = phys;
            transient.Mode = mode;
            transient.ByteLength = (uint)ins.Length;
            transient.Valid = true;
            transient.Transient = true;
            return transient;
        }
    }

    private void Insert(Block b, uint page, bool isRam)
    {
        int h = HashOf(b.Phys, b.Mode);
        b.HashNext = blockHash[h];
        blockHash[h] = b;
        pageBlocks.TryGetValue(page, out Block? head);
        b.PageNext = head;
        pageBlocks[page] = b;
        if (isRam && mem.CodePages[page] == 0)
        {
            mem.CodePages[page] = 1;
            DropWriteEntries(page);
        }
    }

    private void Unhash(Block b)
    {
        int h = HashOf(b.Phys, b.Mode);
        ref Block? link = ref blockHash[h];
        while (link != null)
        {
            if (ReferenceEquals(link, b)) { link = b.HashNext; break; }
            link = ref link.HashNext;
        }
        b.HashNext = null;
    }

    /// <summary>The bus's hook: a page holding decoded code was written.</summary>
    internal void InvalidateCodePage(uint page)
    {
        mem.CodePages[page] = 0;
        if (!pageBlocks.Remove(page, out Block? head)) return;
        if (page == currentPage) blockInvalid = true;
        for (Block? b = head; b != null; b = b.PageNext)
        {
            b.Valid = false;
            Unhash(b);
        }
    }

    private void InvalidateCodeRange(uint first, uint count)
    {
        if (pageBlocks == null || pageBlocks.Count == 0) return;
        uint end = first + count;
        foreach (uint page in pageBlocks.Keys.ToArray())
            if (page >= first && page < end) InvalidateCodePage(page);
    }

    /// <summary>Drops every decoded block.</summary>
    public void FlushCodeCache()
    {
        foreach (uint page in pageBlocks.Keys.ToArray()) InvalidateCodePage(page);
    }
}

/// <summary>Feeds Iced from a span of guest code bytes (no copy for RAM).</summary>
internal sealed unsafe class CodeBuffer : CodeReader
{
    private byte* p;
    private int pos, end;

    public void Set(byte* start, int length) { p = start; pos = 0; end = length; }

    public int Position => pos;

    public override int ReadByte() => pos < end ? p[pos++] : -1;
}
