using System.Buffers.Binary;
using Emulator.Bus;

namespace Emulator.Virtio;

/// <summary>
/// One virtio-blk request (virtio 1.2 section 5.2.6): the descriptor chain it came in, its parsed header
/// (type, sector), where the status byte goes, and the engine state. Objects are pooled by <see cref="VirtioBlk"/>.
/// </summary>
public sealed class VirtioBlkRequest : BlockIoRequest
{
    public const uint TypeIn = 0, TypeOut = 1, TypeFlush = 4, TypeGetId = 8, TypeDiscard = 11, TypeWriteZeroes = 13;
    public const uint TypeBarrier = 0x8000_0000;
    public const byte StatusOk = 0, StatusIoErr = 1, StatusUnsupp = 2;
    public const int HeaderSize = 16, SegmentSize = 16;

    private readonly VirtioBlk device;

    public VirtqBuffer[] Buffers = new VirtqBuffer[8];
    public int BufferCount;
    public ushort Head;
    public VirtQueue Queue = null!;
    public int Generation;
    public int QueueEpoch;

    public uint Type;
    public ulong Sector;
    /// <summary>Bytes in the device-readable buffers (header included) and device-writable ones (status included).</summary>
    public long ReadableBytes, WritableBytes;
    public ulong StatusAddress;
    public byte StatusCode;
    /// <summary>Write-through mode: the write is done and the flush that follows it is in flight.</summary>
    public bool FlushAfterWrite;

    public VirtioBlkRequest(VirtioBlk device) => this.device = device;

    protected internal override bool Abandoned => Generation != device.Generation || QueueEpoch != Queue.Epoch;

    protected internal override void Completed(bool succeeded) => device.RequestCompleted(this, succeeded);

    /// <summary>Checks the chain's framing and reads the header. Returns null, or the reason the device must go
    /// broken (QEMU: "missing headers", "outhdr too short").</summary>
    public string? Parse(MemoryBus memory)
    {
        ReadableBytes = WritableBytes = 0;
        for (int i = 0; i < BufferCount; i++)
        {
            if (Buffers[i].Writable) WritableBytes += Buffers[i].Length;
            else ReadableBytes += Buffers[i].Length;
        }
        if (ReadableBytes == 0 || WritableBytes == 0) return "virtio-blk missing headers";
        Span<byte> header = stackalloc byte[HeaderSize];
        if (Gather(memory, 0, header) < HeaderSize) return "virtio-blk request header too short";
        Type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        Sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        ref var last = ref Buffers[BufferCount - 1];
        StatusAddress = last.Address + last.Length - 1;
        return null;
    }

    /// <summary>Copies device-readable bytes, starting <paramref name="skip"/> bytes in, into <paramref name="destination"/>.
    /// Returns the count copied.</summary>
    public int Gather(MemoryBus memory, long skip, Span<byte> destination)
    {
        int done = 0;
        for (int i = 0; i < BufferCount && done < destination.Length; i++)
        {
            ref var b = ref Buffers[i];
            if (b.Writable) break;
            if (skip >= b.Length) { skip -= b.Length; continue; }
            int n = (int)Math.Min(b.Length - skip, destination.Length - done);
            if (!memory.DmaRead(b.Address + (ulong)skip, destination.Slice(done, n))) break;
            done += n;
            skip = 0;
        }
        return done;
    }

    /// <summary>Copies <paramref name="source"/> into the device-writable buffers, leaving the status byte alone.</summary>
    public int Scatter(MemoryBus memory, ReadOnlySpan<byte> source)
    {
        long room = WritableBytes - 1;
        int done = 0;
        for (int i = 0; i < BufferCount && done < source.Length && done < room; i++)
        {
            ref var b = ref Buffers[i];
            if (!b.Writable) continue;
            int n = (int)Math.Min(b.Length, Math.Min(source.Length - done, room - done));
            if (!memory.DmaWrite(b.Address, source.Slice(done, n))) break;
            done += n;
        }
        return done;
    }
}
