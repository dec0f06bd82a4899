using System.Buffers.Binary;
using Emulator.Bus;

namespace Emulator.Virtio;

/// <summary>One guest buffer of a descriptor chain: guest-physical address, length, and direction.</summary>
public struct VirtqBuffer
{
    public ulong Address;
    public uint Length;
    public bool Writable;
}

/// <summary>Outcome of taking the next chain from the available ring.</summary>
public enum PopResult { Empty, Chain, Error }

/// <summary>
/// A split virtqueue (virtio 1.2 section 2.7): descriptor table, available ring and used ring in guest RAM,
/// read and written through the bus's bounds-checked DMA view. Walking a chain follows direct and indirect
/// descriptors and applies QEMU's defences against a hostile driver (virtio.c): an available index that runs
/// ahead by more than the ring, head or next indices out of range, loops, zero-length or non-RAM buffers,
/// malformed indirect tables, readable buffers after writable ones. Any of them yields
/// <see cref="PopResult.Error"/> with a message, and the device then goes broken. Nothing here allocates.
/// </summary>
public sealed class VirtQueue
{
    public const ushort DescNext = 1, DescWrite = 2, DescIndirect = 4;
    public const ushort AvailNoInterrupt = 1, UsedNoNotify = 1;
    /// <summary>QEMU's VIRTQUEUE_MAX_SIZE: the most buffers one chain may have.</summary>
    public const int MaxChainLength = 1024;

    private readonly MemoryBus memory;
    private ushort lastAvail, usedIdx, signalledUsed;
    private bool signalledUsedValid;

    public int Index { get; }
    public ushort MaxSize { get; }
    /// <summary>Ring size in use (the modern interface lets the driver lower it).</summary>
    public ushort Size { get; set; }
    public bool Enabled { get; set; }
    public ulong DescAddress { get; set; }
    public ulong AvailAddress { get; set; }
    public ulong UsedAddress { get; set; }
    public int InFlight { get; private set; }
    public bool EventIdx { get; set; }
    public bool NotifyOnEmpty { get; set; }
    /// <summary>Why the last operation failed (set with <see cref="PopResult.Error"/> or a false return).</summary>
    public string? LastError { get; private set; }

    public ushort LastAvailIndex => lastAvail;
    public ushort UsedIndex => usedIdx;

    public VirtQueue(MemoryBus memory, int index, ushort maxSize)
    {
        this.memory = memory;
        Index = index;
        MaxSize = maxSize;
        Reset();
    }

    /// <summary>Counts resets, so requests taken before one can tell they belong to an old incarnation.</summary>
    public int Epoch { get; private set; }

    /// <summary>VIRTIO_F_RING_RESET: the driver reset this queue and has not enabled it again.</summary>
    public bool ResetPending { get; set; }

    /// <summary>Back to the reset state. The negotiated ring features (EVENT_IDX, NOTIFY_ON_EMPTY) belong to the
    /// device and stay.</summary>
    public void Reset()
    {
        Epoch++;
        ResetPending = false;
        Size = MaxSize;
        Enabled = false;
        DescAddress = AvailAddress = UsedAddress = 0;
        lastAvail = usedIdx = signalledUsed = 0;
        signalledUsedValid = false;
        InFlight = 0;
        LastError = null;
    }

    /// <summary>Legacy layout (virtio 0.9.5): one 4 KiB-aligned block at <paramref name="pfn"/> &lt;&lt; 12 with the
    /// used ring at the next 4 KiB boundary after the available ring.</summary>
    public void SetLegacyPfn(uint pfn)
    {
        DescAddress = (ulong)pfn << 12;
        AvailAddress = DescAddress + 16UL * Size;
        UsedAddress = (AvailAddress + 6 + 2UL * Size + 4095) & ~4095UL;
        Enabled = pfn != 0;
    }

    public uint LegacyPfn => (uint)(DescAddress >> 12);

    // ---- guest memory helpers ------------------------------------------------------------------------

    private bool Read16(ulong address, out ushort value)
    {
        if (memory.TryGetRamSpan(address, 2, out var s)) { value = BinaryPrimitives.ReadUInt16LittleEndian(s); return true; }
        value = 0;
        return false;
    }

    private bool Write16(ulong address, ushort value)
    {
        if (!memory.TryGetRamSpan(address, 2, out var s)) return false;
        memory.NotifyDmaWrite(address, 2);
        BinaryPrimitives.WriteUInt16LittleEndian(s, value);
        return true;
    }

    private bool ReadDescriptor(ulong table, int i, out ulong addr, out uint len, out ushort flags, out ushort next)
    {
        if (!memory.TryGetRamSpan(table + 16UL * (uint)i, 16, out var d))
        {
            addr = 0; len = 0; flags = 0; next = 0;
            return false;
        }
        addr = BinaryPrimitives.ReadUInt64LittleEndian(d);
        len = BinaryPrimitives.ReadUInt32LittleEndian(d[8..]);
        flags = BinaryPrimitives.ReadUInt16LittleEndian(d[12..]);
        next = BinaryPrimitives.ReadUInt16LittleEndian(d[14..]);
        return true;
    }

    private PopResult Fail(string message)
    {
        LastError = message;
        return PopResult.Error;
    }

    // ---- available side ---------------------------------------------------------------------------------

    /// <summary>The driver's available index, or null when the ring is not in RAM.</summary>
    public ushort? AvailIndex => Read16(AvailAddress + 2, out ushort v) ? v : null;

    public bool IsEmpty => !Enabled || AvailIndex is not { } idx || idx == lastAvail;

    /// <summary>
    /// Takes the next available chain into <paramref name="buffers"/> (grown when needed, up to
    /// <see cref="MaxChainLength"/>). On <see cref="PopResult.Chain"/> the chain counts as in flight until
    /// <see cref="Push"/>.
    /// </summary>
    public PopResult Pop(ref VirtqBuffer[] buffers, out int count, out ushort head)
    {
        count = 0;
        head = 0;
        if (!Enabled) return PopResult.Empty;
        if (!Read16(AvailAddress + 2, out ushort availIdx)) return Fail("cannot map the available ring");
        ushort pending = (ushort)(availIdx - lastAvail);
        if (pending == 0) return PopResult.Empty;
        if (pending > Size) return Fail($"guest moved the available index from {lastAvail} to {availIdx}");
        if (InFlight >= Size) return Fail("virtqueue size exceeded");
        if (!Read16(AvailAddress + 4 + 2UL * (uint)(lastAvail % Size), out head)) return Fail("cannot map the available ring");
        if (head >= Size) return Fail($"guest says index {head} is available");

        ulong table = DescAddress;
        int max = Size, i = head, walked = 0;
        bool sawWritable = false;
        if (!ReadDescriptor(table, i, out ulong addr, out uint len, out ushort flags, out ushort next))
            return Fail("cannot map the descriptor table");
        if ((flags & DescIndirect) != 0)
        {
            if (len == 0 || len % 16 != 0) return Fail($"invalid size {len} for an indirect buffer table");
            if (len / 16 > MaxChainLength) return Fail($"indirect table of {len / 16} descriptors is too large");
            if (!memory.IsRam(addr, len)) return Fail($"cannot map indirect buffer table at 0x{addr:x}");
            table = addr;
            max = (int)(len / 16);
            i = 0;
            ReadDescriptor(table, 0, out addr, out len, out flags, out next);
        }
        while (true)
        {
            if ((flags & DescIndirect) != 0) return Fail("indirect descriptor inside a chain or an indirect table");
            if (len == 0) return Fail("zero sized buffers are not allowed");
            if (!memory.IsRam(addr, len)) return Fail($"descriptor buffer 0x{addr:x}+{len} is not in guest RAM");
            bool writable = (flags & DescWrite) != 0;
            if (!writable && sawWritable) return Fail("incorrect order for descriptors: readable after writable");
            sawWritable |= writable;
            if (count == MaxChainLength) return Fail("too many descriptors in a chain");
            if (count == buffers.Length) Array.Resize(ref buffers, Math.Min(MaxChainLength, buffers.Length * 2));
            buffers[count++] = new VirtqBuffer { Address = addr, Length = len, Writable = writable };
            if (++walked >= max && (flags & DescNext) != 0) return Fail("looped descriptor chain");
            if ((flags & DescNext) == 0) break;
            if (next >= max) return Fail($"descriptor next is {next}, beyond the table of {max}");
            i = next;
            if (!ReadDescriptor(table, i, out addr, out len, out flags, out next))
                return Fail("cannot map the descriptor table");
        }
        lastAvail++;
        InFlight++;
        return PopResult.Chain;
    }

    /// <summary>Drops a popped chain without returning it to the driver (QEMU's virtqueue_detach_element, used
    /// when the device goes broken over it).</summary>
    public void Detach() => InFlight--;

    /// <summary>Device-side notification suppression (virtio 1.2 section 2.7.10): with EVENT_IDX the device
    /// publishes avail_event; otherwise it sets or clears used.flags NO_NOTIFY.</summary>
    public void SetNotification(bool enable)
    {
        if (!Enabled) return;
        if (EventIdx)
        {
            if (AvailIndex is { } idx) Write16(UsedAddress + 4 + 8UL * Size, idx);
        }
        else
        {
            if (Read16(UsedAddress, out ushort f))
                Write16(UsedAddress, enable ? (ushort)(f & ~UsedNoNotify) : (ushort)(f | UsedNoNotify));
        }
    }

    // ---- used side ---------------------------------------------------------------------------------------

    /// <summary>Returns a chain to the driver with the number of bytes written into it.</summary>
    public bool Push(ushort head, uint writtenLength)
    {
        InFlight--;
        ulong element = UsedAddress + 4 + 8UL * (uint)(usedIdx % Size);
        if (!memory.TryGetRamSpan(element, 8, out var e))
        {
            LastError = "cannot map the used ring";
            return false;
        }
        memory.NotifyDmaWrite(element, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(e, head);
        BinaryPrimitives.WriteUInt32LittleEndian(e[4..], writtenLength);
        usedIdx++;
        if (!Write16(UsedAddress + 2, usedIdx))
        {
            LastError = "cannot map the used ring";
            return false;
        }
        return true;
    }

    /// <summary>Whether the driver wants an interrupt for what was pushed since the last one (QEMU's
    /// virtio_split_should_notify, spec 2.7.7.2 and 2.7.10).</summary>
    public bool ShouldInterrupt()
    {
        if (NotifyOnEmpty && InFlight == 0 && IsEmpty) return true;
        if (!EventIdx)
            return Read16(AvailAddress, out ushort flags) && (flags & AvailNoInterrupt) == 0;
        bool valid = signalledUsedValid;
        signalledUsedValid = true;
        ushort old = signalledUsed;
        signalledUsed = usedIdx;
        if (!valid) return true;
        if (!Read16(AvailAddress + 4 + 2UL * Size, out ushort usedEvent)) return true;
        return NeedEvent(usedEvent, usedIdx, old);
    }

    /// <summary>vring_need_event: the event index lies in (old, new].</summary>
    public static bool NeedEvent(ushort eventIdx, ushort newIdx, ushort oldIdx) =>
        (ushort)(newIdx - eventIdx - 1) < (ushort)(newIdx - oldIdx);
}
