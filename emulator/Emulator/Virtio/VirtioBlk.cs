using System.Buffers.Binary;
using System.Text;
using Emulator.Bus;
using Emulator.Machine;
using Qed;

namespace Emulator.Virtio;

/// <summary>Host cache modes as QEMU's -drive cache= spells them (what the guest sees is the write cache
/// enable bit; "unsafe" also ignores flushes).</summary>
public enum DiskCacheMode { Writeback, None, Writethrough, DirectSync, Unsafe }

public sealed record VirtioBlkOptions
{
    public bool ReadOnly { get; init; }
    public DiskCacheMode Cache { get; init; } = DiskCacheMode.Writeback;
    /// <summary>Up to 20 bytes returned by GET_ID (QEMU: -drive serial=).</summary>
    public string Serial { get; init; } = "";
    public ushort QueueSize { get; init; } = 256;
}

/// <summary>
/// The virtio block device (virtio 1.2 section 5.2) behind a <see cref="VirtioPciTransport"/>: one request queue,
/// QEMU's feature set (SEG_MAX, GEOMETRY, BLK_SIZE, FLUSH, TOPOLOGY, CONFIG_WCE, DISCARD, WRITE_ZEROES, RO for
/// read-only drives) and configuration layout, and QEMU's request semantics: out-of-range or misaligned
/// sectors and writes to a read-only disk get IOERR, unknown types UNSUPP, malformed framing breaks the device.
/// Many requests run at once through the <see cref="BlockIoEngine"/>; data moves through pooled bounce buffers
/// and reaches guest RAM only on the loop thread.
/// </summary>
public sealed class VirtioBlk : VirtioDevice
{
    public const int FeatureSizeMax = 1, FeatureSegMax = 2, FeatureGeometry = 4, FeatureRo = 5, FeatureBlkSize = 6,
        FeatureFlush = 9, FeatureTopology = 10, FeatureConfigWce = 11, FeatureDiscard = 13, FeatureWriteZeroes = 14;
    public const int SectorSize = 512;
    /// <summary>QEMU's virtio-blk configuration length with discard and write-zeroes (up to write_zeroes_may_unmap).</summary>
    public const int ConfigSize = 0x39;
    public const uint MaxDiscardSectors = 0x3F_FFFF;
    /// <summary>Largest single read or write accepted (Linux sends at most a few MiB); larger ones get IOERR.</summary>
    public const long MaxRequestBytes = 64L << 20;
    /// <summary>Bounce-buffer bytes in flight before the device stops taking new requests until some finish.</summary>
    public const long MaxInFlightBytes = 256L << 20;

    private readonly BlockIoEngine engine;
    private readonly VirtioBlkOptions options;
    private readonly Stack<VirtioBlkRequest> pool = new();
    private readonly BouncePool buffers = new();
    private readonly byte[] config = new byte[ConfigSize];
    private readonly byte[] serial = new byte[20];
    private bool writeCache;
    private bool stalled, processing, processAgain;

    public int Generation { get; private set; }
    public BlockIoEngine Engine => engine;
    public bool ReadOnly { get; }
    public ulong CapacitySectors { get; }

    public VirtioBlk(MemoryBus memory, IBlockDevice backend, EventLoop loop, VirtioBlkOptions? options = null)
        : base(memory, 1, (options ?? new VirtioBlkOptions()).QueueSize)
    {
        this.options = options ?? new VirtioBlkOptions();
        engine = new BlockIoEngine(backend, loop) { Warning = m => Warning?.Invoke(m) };
        ReadOnly = this.options.ReadOnly || backend.IsReadOnly;
        CapacitySectors = (ulong)backend.Size / SectorSize;
        Encoding.ASCII.GetBytes(this.options.Serial.AsSpan(0, Math.Min(20, this.options.Serial.Length)), serial);
        writeCache = this.options.Cache is DiskCacheMode.Writeback or DiskCacheMode.None or DiskCacheMode.Unsafe;
        BuildConfig();
    }

    public override ushort DeviceId => 2;

    protected override ulong DeviceTypeFeatures =>
        1UL << FeatureSegMax | 1UL << FeatureGeometry | 1UL << FeatureBlkSize | 1UL << FeatureFlush
        | 1UL << FeatureTopology | 1UL << FeatureConfigWce | 1UL << FeatureDiscard | 1UL << FeatureWriteZeroes
        | (ReadOnly ? 1UL << FeatureRo : 0);

    // ---- configuration space (struct virtio_blk_config) -----------------------------------------------------

    private void BuildConfig()
    {
        var c = config.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(c, CapacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x0C..], (uint)(Queues[0].MaxSize - 2));       // seg_max
        ulong cylinders = Math.Min(CapacitySectors / (16 * 63), 65535);
        BinaryPrimitives.WriteUInt16LittleEndian(c[0x10..], (ushort)cylinders);
        c[0x12] = 16;                                                                          // heads
        c[0x13] = 63;                                                                          // sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x14..], SectorSize);                        // blk_size
        BinaryPrimitives.WriteUInt16LittleEndian(c[0x22..], 1);                                 // num_queues
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x24..], MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x28..], 1);                                 // max_discard_seg
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x2C..], 1);                                 // discard_sector_alignment
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x30..], MaxDiscardSectors);                 // max_write_zeroes_sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c[0x34..], 1);                                 // max_write_zeroes_seg
        c[0x38] = 1;                                                                           // write_zeroes_may_unmap
    }

    public override int ConfigLength => ConfigSize;

    public override byte ReadConfigByte(int offset) => offset == 0x20 ? (byte)(writeCache ? 1 : 0) : config[offset];

    public override void WriteConfigByte(int offset, byte value)
    {
        if (offset == 0x20) writeCache = value != 0;       // wce: the only writable field (CONFIG_WCE)
    }

    public bool WriteCacheEnabled => writeCache;

    protected override void ResetDevice()
    {
        Generation++;
        stalled = false;
        writeCache = options.Cache is DiskCacheMode.Writeback or DiskCacheMode.None or DiskCacheMode.Unsafe;
        engine.AbandonFinished();
    }

    // ---- request intake ---------------------------------------------------------------------------------

    protected override void ProcessQueue(VirtQueue q)
    {
        if (processing)
        {
            processAgain = true;                // a completion re-entered us; the outer loop goes round again
            return;
        }
        processing = true;
        try
        {
            do
            {
                processAgain = false;
                stalled = false;
                q.SetNotification(false);
                while (!Broken)
                {
                    if (engine.InFlightBytes >= MaxInFlightBytes)
                    {
                        stalled = true;
                        break;
                    }
                    var r = Rent();
                    var result = q.Pop(ref r.Buffers, out r.BufferCount, out r.Head);
                    if (result != PopResult.Chain)
                    {
                        Recycle(r);
                        if (result == PopResult.Error) SetBroken(q.LastError!);
                        break;
                    }
                    r.Queue = q;
                    r.Generation = Generation;
                    r.QueueEpoch = q.Epoch;
                    Start(r);
                }
                if (Broken) return;
                q.SetNotification(true);
            } while (!stalled && (processAgain || !q.IsEmpty));
        }
        finally
        {
            processing = false;
        }
    }

    private void Start(VirtioBlkRequest r)
    {
        if (r.Parse(Memory) is { } error)
        {
            r.Queue.Detach();
            Recycle(r);
            SetBroken(error);
            return;
        }
        uint type = r.Type;
        switch (type & ~(VirtioBlkRequest.TypeOut | VirtioBlkRequest.TypeBarrier))
        {
            case VirtioBlkRequest.TypeIn:
                StartReadWrite(r, (type & VirtioBlkRequest.TypeOut) != 0);
                break;
            case VirtioBlkRequest.TypeFlush:
                if (options.Cache == DiskCacheMode.Unsafe) Complete(r, VirtioBlkRequest.StatusOk);
                else Submit(r, BlockOp.Flush, 0, 0);
                break;
            case VirtioBlkRequest.TypeGetId:
                r.Scatter(Memory, serial);
                Complete(r, VirtioBlkRequest.StatusOk);
                break;
            case VirtioBlkRequest.TypeDiscard & ~VirtioBlkRequest.TypeOut:
            case VirtioBlkRequest.TypeWriteZeroes & ~VirtioBlkRequest.TypeOut:
                StartDiscardOrZeroes(r);
                break;
            default:
                Complete(r, VirtioBlkRequest.StatusUnsupp);
                break;
        }
    }

    /// <summary>QEMU's virtio_blk_sect_range_ok: whole sectors inside the disk.</summary>
    private bool RangeOk(ulong sector, long bytes) =>
        bytes >= 0 && bytes % SectorSize == 0 && sector <= CapacitySectors
        && (ulong)bytes / SectorSize <= CapacitySectors - sector;

    private void StartReadWrite(VirtioBlkRequest r, bool write)
    {
        long length = write ? r.ReadableBytes - VirtioBlkRequest.HeaderSize : r.WritableBytes - 1;
        if (!RangeOk(r.Sector, length) || length > MaxRequestBytes || (write && ReadOnly))
        {
            Complete(r, VirtioBlkRequest.StatusIoErr);
            return;
        }
        if (length == 0)
        {
            Complete(r, VirtioBlkRequest.StatusOk);
            return;
        }
        r.Buffer = buffers.Rent((int)length);
        if (write && r.Gather(Memory, VirtioBlkRequest.HeaderSize, r.Buffer.AsSpan(0, (int)length)) != length)
        {
            Complete(r, VirtioBlkRequest.StatusIoErr);
            return;
        }
        Submit(r, write ? BlockOp.Write : BlockOp.Read, (long)r.Sector * SectorSize, length);
    }

    private void StartDiscardOrZeroes(VirtioBlkRequest r)
    {
        bool zeroes = (r.Type & ~VirtioBlkRequest.TypeBarrier) == VirtioBlkRequest.TypeWriteZeroes;
        long dataLength = r.ReadableBytes - VirtioBlkRequest.HeaderSize;
        // Only the one-segment form with the OUT bit set and the feature negotiated is supported (QEMU).
        if ((r.Type & VirtioBlkRequest.TypeOut) == 0 || dataLength > VirtioBlkRequest.SegmentSize
            || !HasFeature(zeroes ? FeatureWriteZeroes : FeatureDiscard))
        {
            Complete(r, VirtioBlkRequest.StatusUnsupp);
            return;
        }
        Span<byte> segment = stackalloc byte[VirtioBlkRequest.SegmentSize];
        if (r.Gather(Memory, VirtioBlkRequest.HeaderSize, segment) < VirtioBlkRequest.SegmentSize)
        {
            r.Queue.Detach();
            Recycle(r);
            SetBroken("virtio-blk discard/write_zeroes header too short");
            return;
        }
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(segment);
        uint sectors = BinaryPrimitives.ReadUInt32LittleEndian(segment[8..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(segment[12..]);
        byte status = VirtioBlkRequest.StatusOk;
        if (sectors > MaxDiscardSectors || !RangeOk(sector, (long)sectors * SectorSize)) status = VirtioBlkRequest.StatusIoErr;
        else if ((flags & ~1u) != 0 || (!zeroes && flags != 0)) status = VirtioBlkRequest.StatusUnsupp;
        else if (ReadOnly) status = VirtioBlkRequest.StatusIoErr;
        if (status != VirtioBlkRequest.StatusOk || sectors == 0)
        {
            Complete(r, status);
            return;
        }
        Submit(r, zeroes ? BlockOp.WriteZeroes : BlockOp.Discard, (long)sector * SectorSize, (long)sectors * SectorSize);
    }

    private void Submit(VirtioBlkRequest r, BlockOp op, long offset, long length)
    {
        r.Op = op;
        r.Offset = offset;
        r.Length = length;
        r.FlushAfterWrite = false;
        engine.Submit(r);
    }

    // ---- completion --------------------------------------------------------------------------------------

    /// <summary>Loop thread: the engine finished a request.</summary>
    internal void RequestCompleted(VirtioBlkRequest r, bool succeeded)
    {
        if (r.Abandoned)
        {
            Recycle(r);
            return;
        }
        if (succeeded && r.Op == BlockOp.Write && !writeCache && !r.FlushAfterWrite)
        {
            // Write-through: the write is acknowledged only once it is durable.
            ReturnBuffer(r);
            r.Op = BlockOp.Flush;
            r.FlushAfterWrite = true;
            engine.Submit(r);
            return;
        }
        if (succeeded && r.Op == BlockOp.Read)
            r.Scatter(Memory, r.Buffer.AsSpan(0, (int)r.Length));
        Complete(r, succeeded ? VirtioBlkRequest.StatusOk : VirtioBlkRequest.StatusIoErr);
        if (stalled && !Broken)
        {
            stalled = false;
            Kick(r.Queue);
        }
    }

    /// <summary>Writes the status byte, returns the chain on the used ring and interrupts if the driver wants it.</summary>
    private void Complete(VirtioBlkRequest r, byte status)
    {
        var q = r.Queue;
        long writable = r.WritableBytes;
        Span<byte> s = stackalloc byte[1];
        s[0] = status;
        if (Broken)
        {
            // A request that was in flight when the driver broke the device: QEMU writes its status byte
            // but publishes nothing and raises no interrupt (virtqueue_fill/flush on a broken device).
            Memory.DmaWrite(r.StatusAddress, s);
            q.Detach();
            r.StatusCode = status;
            Recycle(r);
            return;
        }
        bool ok = Memory.DmaWrite(r.StatusAddress, s) && q.Push(r.Head, (uint)Math.Min(writable, uint.MaxValue));
        r.StatusCode = status;
        Recycle(r);
        if (!ok)
        {
            SetBroken(q.LastError ?? "status byte is not in guest RAM");
            return;
        }
        InterruptIfNeeded(q);
    }

    // ---- pooling -----------------------------------------------------------------------------------------

    private VirtioBlkRequest Rent() => pool.TryPop(out var r) ? r : new VirtioBlkRequest(this);

    private void ReturnBuffer(VirtioBlkRequest r)
    {
        if (r.Buffer != null)
        {
            buffers.Return(r.Buffer);
            r.Buffer = null;
        }
    }

    private void Recycle(VirtioBlkRequest r)
    {
        ReturnBuffer(r);
        r.BufferCount = 0;
        pool.Push(r);
    }

    /// <summary>Requests currently pooled (tests check that completions return them).</summary>
    public int PooledRequests => pool.Count;
}
