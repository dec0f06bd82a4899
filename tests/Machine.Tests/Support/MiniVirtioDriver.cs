using System.Buffers.Binary;
using Emulator.Bus;
using Emulator.Virtio;

namespace Machine.Tests.Support;

/// <summary>A guest buffer of a request the mini driver builds.</summary>
public readonly record struct GuestSegment(ulong Address, uint Length, bool Writable);

/// <summary>A virtio-blk request as a guest driver keeps it: where its header, data and status byte live.</summary>
public sealed class BlkRequest
{
    public ushort Head;
    public ulong Header, Data, Status;
    public uint DataLength;
    public bool Done;
    public uint UsedLength;
}

/// <summary>
/// A small virtio-blk driver written from the virtio 1.2 spec, as a guest would: it reaches the device only
/// through PCI configuration mechanism #1 (ports 0xCF8/0xCFC), the BARs it programs, and rings it builds in
/// guest RAM. It speaks the legacy or the modern interface, with direct or indirect descriptors and with or
/// without EVENT_IDX.
/// </summary>
public sealed class MiniVirtioDriver
{
    public const byte Ack = 1, Driver = 2, DriverOk = 4, FeaturesOk = 8, NeedsReset = 0x40;

    private readonly MemoryBus mem;
    private readonly IoPortBus io;
    private readonly int device;
    private ulong heap;
    private readonly ulong heapEnd;
    private readonly Stack<ushort> freeDescriptors = new();
    private readonly Dictionary<ushort, List<ushort>> chains = new();
    private ushort availIdx, lastUsed;

    public bool Modern { get; private set; }
    public ushort IoBase { get; private set; }
    public uint MmioBase { get; private set; }
    public ushort QueueSize { get; private set; }
    public ulong Desc, Avail, Used;
    public ulong NegotiatedFeatures { get; private set; }
    public bool EventIdx => (NegotiatedFeatures & 1UL << 29) != 0;
    public int Notifications { get; private set; }

    public MiniVirtioDriver(MemoryBus memory, IoPortBus io, int deviceNumber, ulong heapStart = 0x100000, ulong heapSize = 0x400000)
    {
        mem = memory;
        this.io = io;
        device = deviceNumber;
        heap = heapStart;
        heapEnd = heapStart + heapSize;
    }

    // ---- PCI configuration, mechanism #1 ------------------------------------------------------------------

    public uint ConfigRead(int reg, int size)
    {
        io.Out(0xCF8, 4, 0x8000_0000u | (uint)device << 11 | (uint)(reg & 0xFC));
        return io.In((ushort)(0xCFC + (reg & 3)), size);
    }

    public void ConfigWrite(int reg, int size, uint value)
    {
        io.Out(0xCF8, 4, 0x8000_0000u | (uint)device << 11 | (uint)(reg & 0xFC));
        io.Out((ushort)(0xCFC + (reg & 3)), size, value);
    }

    /// <summary>Finds a virtio vendor capability of the given cfg_type; returns its offset or 0.</summary>
    public int FindVirtioCap(int type)
    {
        if ((ConfigRead(0x06, 2) & 0x10) == 0) return 0;
        int p = (int)ConfigRead(0x34, 1);
        for (int guard = 0; p != 0 && guard < 48; guard++)
        {
            if (ConfigRead(p, 1) == 0x09 && ConfigRead(p + 3, 1) == type) return p;
            p = (int)ConfigRead(p + 1, 1);
        }
        return 0;
    }

    // ---- memory ------------------------------------------------------------------------------------------

    public ulong Alloc(uint size, uint align = 16)
    {
        heap = (heap + align - 1) & ~(ulong)(align - 1);
        ulong at = heap;
        heap += size;
        if (heap > heapEnd) throw new InvalidOperationException("mini driver heap exhausted");
        mem.DmaWrite(at, new byte[size]);
        return at;
    }

    public void W16(ulong a, ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); mem.DmaWrite(a, b); }
    public void W32(ulong a, uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); mem.DmaWrite(a, b); }
    public void W64(ulong a, ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); mem.DmaWrite(a, b); }
    public ushort R16(ulong a) { Span<byte> b = stackalloc byte[2]; mem.DmaRead(a, b); return BinaryPrimitives.ReadUInt16LittleEndian(b); }
    public uint R32(ulong a) { Span<byte> b = stackalloc byte[4]; mem.DmaRead(a, b); return BinaryPrimitives.ReadUInt32LittleEndian(b); }
    public byte R8(ulong a) { Span<byte> b = stackalloc byte[1]; mem.DmaRead(a, b); return b[0]; }

    // ---- transport registers -----------------------------------------------------------------------------

    public uint Legacy(int offset, int size) => io.In((ushort)(IoBase + offset), size);
    public void Legacy(int offset, int size, uint value) => io.Out((ushort)(IoBase + offset), size, value);

    public uint Common(int offset, int size) => size switch
    {
        1 => mem.Read8(MmioBase + (uint)offset),
        2 => mem.Read16(MmioBase + (uint)offset),
        _ => mem.Read32(MmioBase + (uint)offset),
    };

    public void Common(int offset, int size, uint value)
    {
        uint a = MmioBase + (uint)offset;
        if (size == 1) mem.Write8(a, (byte)value);
        else if (size == 2) mem.Write16(a, (ushort)value);
        else mem.Write32(a, value);
    }

    public byte Status
    {
        get => Modern ? (byte)Common(20, 1) : (byte)Legacy(18, 1);
        set { if (Modern) Common(20, 1, value); else Legacy(18, 1, value); }
    }

    public byte ReadIsr() => Modern ? mem.Read8(MmioBase + 0x1000) : (byte)Legacy(19, 1);

    public uint DeviceConfig(int offset, int size)
    {
        if (!Modern) return Legacy(20 + offset, size);
        uint a = MmioBase + 0x2000 + (uint)offset;
        return size switch { 1 => mem.Read8(a), 2 => mem.Read16(a), _ => mem.Read32(a) };
    }

    public ulong Capacity => DeviceConfig(0, 4) | (ulong)DeviceConfig(4, 4) << 32;

    // ---- initialisation ----------------------------------------------------------------------------------

    /// <summary>Programs BAR 0 (I/O) and, for modern, BAR 4/5 (memory), and enables decoding and bus mastering.</summary>
    public void MapBars(ushort ioBase = 0xC000, uint mmioBase = 0xFE00_0000)
    {
        IoBase = ioBase;
        MmioBase = mmioBase;
        ConfigWrite(0x10, 4, ioBase);
        ConfigWrite(0x20, 4, mmioBase);
        ConfigWrite(0x24, 4, 0);
        ConfigWrite(0x04, 2, 0x7);
    }

    /// <summary>virtio 0.9.5 initialisation (legacy BAR), features = offered &amp; wanted.</summary>
    public void InitLegacy(ulong wanted)
    {
        Modern = false;
        Status = 0;
        Status = Ack;
        Status = Ack | Driver;
        uint offered = Legacy(0, 4);
        NegotiatedFeatures = offered & wanted;
        Legacy(4, 4, (uint)NegotiatedFeatures);
        Legacy(14, 2, 0);
        QueueSize = (ushort)Legacy(12, 2);
        if (QueueSize == 0) throw new InvalidOperationException("queue 0 absent");
        // Legacy layout: one 4 KiB-aligned block; the used ring at the next 4 KiB after the available ring.
        uint availBytes = 6 + 2u * QueueSize;
        uint total = (uint)((16u * QueueSize + availBytes + 4095) & ~4095) + 6 + 8u * QueueSize;
        Desc = Rings(false, () => { ulong b = Alloc(total, 4096); return (b, 0, 0); }).Desc;
        Avail = Desc + 16u * QueueSize;
        Used = (Avail + availBytes + 4095) & ~4095UL;
        Legacy(8, 4, (uint)(Desc >> 12));
        ResetRingState();
        Status = Ack | Driver | DriverOk;
    }

    /// <summary>virtio 1.0 initialisation through the common configuration structure.</summary>
    public bool InitModern(ulong wanted, ushort queueSize = 0)
    {
        Modern = true;
        Status = 0;
        if (Status != 0) throw new InvalidOperationException("reset did not complete");
        Status = Ack;
        Status = Ack | Driver;
        Common(0, 4, 0);
        ulong offered = Common(4, 4);
        Common(0, 4, 1);
        offered |= (ulong)Common(4, 4) << 32;
        NegotiatedFeatures = offered & wanted;
        Common(8, 4, 0);
        Common(12, 4, (uint)NegotiatedFeatures);
        Common(8, 4, 1);
        Common(12, 4, (uint)(NegotiatedFeatures >> 32));
        Status = Ack | Driver | FeaturesOk;
        if ((Status & FeaturesOk) == 0) return false;
        Common(22, 2, 0);
        QueueSize = (ushort)Common(24, 2);
        if (queueSize != 0) { Common(24, 2, queueSize); QueueSize = (ushort)Common(24, 2); }
        (Desc, Avail, Used) = Rings(true, () => (Alloc(16u * QueueSize, 16), Alloc(6 + 2u * QueueSize, 2), Alloc(6 + 8u * QueueSize, 4)));
        Common(32, 4, (uint)Desc); Common(36, 4, 0);
        Common(40, 4, (uint)Avail); Common(44, 4, 0);
        Common(48, 4, (uint)Used); Common(52, 4, 0);
        Common(28, 2, 1);
        ResetRingState();
        Status = Ack | Driver | FeaturesOk | DriverOk;
        return true;
    }

    private readonly Dictionary<(bool, ushort), (ulong Desc, ulong Avail, ulong Used)> ringMemory = new();

    /// <summary>Ring memory per layout and size, allocated once and zeroed on every initialisation.</summary>
    private (ulong Desc, ulong Avail, ulong Used) Rings(bool modern, Func<(ulong, ulong, ulong)> allocate)
    {
        if (!ringMemory.TryGetValue((modern, QueueSize), out var r))
        {
            r = allocate();
            ringMemory[(modern, QueueSize)] = r;
            return r;
        }
        if (modern)
        {
            mem.DmaWrite(r.Desc, new byte[16 * QueueSize]);
            mem.DmaWrite(r.Avail, new byte[6 + 2 * QueueSize]);
            mem.DmaWrite(r.Used, new byte[6 + 8 * QueueSize]);
        }
        else mem.DmaWrite(r.Desc, new byte[(16 * QueueSize + 6 + 2 * QueueSize + 4095) / 4096 * 4096 + 6 + 8 * QueueSize]);
        return r;
    }

    private void ResetRingState()
    {
        freeDescriptors.Clear();
        for (int i = QueueSize - 1; i >= 0; i--) freeDescriptors.Push((ushort)i);
        chains.Clear();
        availIdx = lastUsed = 0;
    }

    // ---- requests ----------------------------------------------------------------------------------------

    /// <summary>Writes one descriptor of the ring.</summary>
    public void WriteDescriptor(ulong table, int index, ulong addr, uint len, ushort flags, ushort next)
    {
        ulong d = table + 16UL * (uint)index;
        W64(d, addr); W32(d + 8, len); W16(d + 12, flags); W16(d + 14, next);
    }

    /// <summary>Places a chain in the descriptor table (or an indirect table) and makes it available.</summary>
    public ushort AddChain(IReadOnlyList<GuestSegment> segments, bool indirect = false, bool publish = true)
    {
        ushort head;
        var used = new List<ushort>();
        if (indirect)
        {
            ulong table = Alloc(16u * (uint)segments.Count, 16);
            for (int i = 0; i < segments.Count; i++)
                WriteDescriptor(table, i, segments[i].Address, segments[i].Length,
                    (ushort)((segments[i].Writable ? VirtQueue.DescWrite : 0) | (i + 1 < segments.Count ? VirtQueue.DescNext : 0)),
                    (ushort)(i + 1));
            head = freeDescriptors.Pop();
            WriteDescriptor(Desc, head, table, 16u * (uint)segments.Count, VirtQueue.DescIndirect, 0);
            used.Add(head);
        }
        else
        {
            var ids = new ushort[segments.Count];
            for (int i = 0; i < ids.Length; i++) ids[i] = freeDescriptors.Pop();
            for (int i = 0; i < ids.Length; i++)
                WriteDescriptor(Desc, ids[i], segments[i].Address, segments[i].Length,
                    (ushort)((segments[i].Writable ? VirtQueue.DescWrite : 0) | (i + 1 < ids.Length ? VirtQueue.DescNext : 0)),
                    i + 1 < ids.Length ? ids[i + 1] : (ushort)0);
            head = ids[0];
            used.AddRange(ids);
        }
        chains[head] = used;
        if (publish) Publish(head);
        return head;
    }

    /// <summary>Puts a head on the available ring and advances avail.idx.</summary>
    public void Publish(ushort head)
    {
        W16(Avail + 4 + 2UL * (uint)(availIdx % QueueSize), head);
        availIdx++;
        W16(Avail + 2, availIdx);
    }

    public ushort AvailIdx => availIdx;

    /// <summary>Writes avail.idx directly (hostile tests).</summary>
    public void SetAvailIdx(ushort value)
    {
        availIdx = value;
        W16(Avail + 2, value);
    }

    public void Notify(int queue = 0)
    {
        Notifications++;
        if (Modern)
        {
            int notifyCap = FindVirtioCap(2);
            uint mult = ConfigRead(notifyCap + 16, 4);
            uint off = ConfigRead(notifyCap + 8, 4);
            Common(22, 2, (uint)queue);
            uint qOff = Common(30, 2);
            mem.Write16(MmioBase + off + qOff * mult, (ushort)queue);
        }
        else Legacy(16, 2, (uint)queue);
    }

    /// <summary>Notifies only if the device asked for it (used.flags NO_NOTIFY, or avail_event with EVENT_IDX).</summary>
    public bool NotifyIfNeeded(ushort oldAvail)
    {
        bool need = EventIdx
            ? VirtQueue.NeedEvent(R16(Used + 4 + 8UL * QueueSize), availIdx, oldAvail)
            : (R16(Used) & VirtQueue.UsedNoNotify) == 0;
        if (need) Notify();
        return need;
    }

    public BlkRequest Submit(uint type, ulong sector, uint dataLength, bool dataWritable, bool indirect = false,
        ReadOnlySpan<byte> payload = default, bool notify = true)
    {
        var r = new BlkRequest { Header = Alloc(16), Status = Alloc(1, 1), DataLength = dataLength };
        W32(r.Header, type);
        W64(r.Header + 8, sector);
        mem.DmaWrite(r.Status, new byte[] { 0xEE });
        var segs = new List<GuestSegment> { new(r.Header, 16, false) };
        if (dataLength > 0)
        {
            r.Data = Alloc(dataLength, 16);
            if (!payload.IsEmpty) mem.DmaWrite(r.Data, payload);
            segs.Add(new GuestSegment(r.Data, dataLength, dataWritable));
        }
        segs.Add(new GuestSegment(r.Status, 1, true));
        r.Head = AddChain(segs, indirect);
        pending[r.Head] = r;
        if (notify) Notify();
        return r;
    }

    private readonly Dictionary<ushort, BlkRequest> pending = new();

    public BlkRequest Read(ulong sector, uint length, bool indirect = false, bool notify = true) =>
        Submit(VirtioBlkRequest.TypeIn, sector, length, true, indirect, default, notify);

    public BlkRequest Write(ulong sector, ReadOnlySpan<byte> data, bool indirect = false, bool notify = true) =>
        Submit(VirtioBlkRequest.TypeOut, sector, (uint)data.Length, false, indirect, data, notify);

    /// <summary>Takes finished requests off the used ring; with EVENT_IDX also publishes used_event.</summary>
    public List<(ushort Id, uint Length)> ReapUsed()
    {
        var done = new List<(ushort, uint)>();
        ushort usedIdx = R16(Used + 2);
        while (lastUsed != usedIdx)
        {
            ulong e = Used + 4 + 8UL * (uint)(lastUsed % QueueSize);
            ushort id = (ushort)R32(e);
            uint len = R32(e + 4);
            done.Add((id, len));
            if (chains.Remove(id, out var descs)) foreach (var d in descs) freeDescriptors.Push(d);
            if (pending.Remove(id, out var r)) { r.Done = true; r.UsedLength = len; }
            lastUsed++;
        }
        if (EventIdx) W16(Avail + 4 + 2UL * QueueSize, lastUsed);
        return done;
    }

    public ushort UsedIdx => R16(Used + 2);

    public byte StatusOf(BlkRequest r) => R8(r.Status);

    public byte[] DataOf(BlkRequest r)
    {
        var b = new byte[r.DataLength];
        mem.DmaRead(r.Data, b);
        return b;
    }
}
