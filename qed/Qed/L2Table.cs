using System.Buffers;
using System.Buffers.Binary;

namespace Qed;

/// <summary>
/// One L2 table in memory: table_size clusters of little-endian u64 entries (QED spec, "Tables").
/// Entry 0 = unallocated, 1 = zero cluster, anything else = offset of a data cluster.
/// </summary>
/// <remarks>
/// Entries change only under the image's allocation lock and under this object's lock. Writes of
/// changed entries are group-committed: one write is in flight per table, and every change made while
/// it runs joins the next write, which covers the 512-byte sectors holding the changed entries (as
/// QEMU writes only the sectors it changed). The bytes written are a snapshot taken under the lock, so
/// no write ever carries a half-updated entry.
/// </remarks>
internal sealed class L2Table
{
    public const int SectorSize = 512;
    private const int EntriesPerSector = SectorSize / 8;

    public readonly long Offset;
    private readonly byte[] _data;
    /// <summary>Entries that point into metadata (header, L1, another L2): unusable, reported on access.</summary>
    public HashSet<int>? BadEntries;

    // L2 cache bookkeeping, guarded by the cache's lock.
    internal int Pins;
    internal bool InCache;
    internal int RingIndex;
    /// <summary>Set on every cache hit, cleared by the eviction sweep (second chance).</summary>
    internal volatile bool Referenced;

    // Group commit state, guarded by lock(this).
    private int _dirtyLo = int.MaxValue, _dirtyHi = -1;   // sector range [lo, hi]
    private bool _writing;
    private TaskCompletionSource? _next, _inFlight;

    public L2Table(long offset, int entries)
    {
        Offset = offset;
        _data = new byte[entries * 8];
    }

    public int Count => _data.Length / 8;
    /// <summary>The raw table bytes (for whole-table reads and writes).</summary>
    public Memory<byte> Bytes => _data;

    public ulong this[int index]
    {
        get => BinaryPrimitives.ReadUInt64LittleEndian(_data.AsSpan(index * 8, 8));
    }

    /// <summary>True while changed entries are waiting for or being written: the cache must keep it.</summary>
    public bool IsBusy
    {
        get { lock (this) return _writing || _dirtyHi >= 0; }
    }

    /// <summary>Sets entries [first, first+count) to consecutive cluster offsets (or all to one marker value when step is 0).</summary>
    public void SetEntries(int first, int count, ulong value, ulong step)
    {
        lock (this)
        {
            var span = _data.AsSpan(first * 8, count * 8);
            for (int i = 0; i < count; i++, value += step)
                BinaryPrimitives.WriteUInt64LittleEndian(span[(i * 8)..], value);
        }
    }

    /// <summary>Records that entries [first, first+count) changed; nothing is written yet.</summary>
    public void MarkDirty(int first, int count)
    {
        lock (this)
        {
            _dirtyLo = Math.Min(_dirtyLo, first / EntriesPerSector);
            _dirtyHi = Math.Max(_dirtyHi, (first + count - 1) / EntriesPerSector);
        }
    }

    /// <summary>
    /// Takes a copy of the changed sectors (rented from the shared pool; the caller returns it) and
    /// marks them clean; false when nothing changed. Used by deferred write-back, which writes the copy
    /// later, after the file length covering the new clusters is durable.
    /// </summary>
    public bool TakeDirtySnapshot(out long offset, out byte[] bytes, out int length)
    {
        lock (this)
        {
            if (_dirtyHi < 0)
            {
                offset = 0;
                bytes = [];
                length = 0;
                return false;
            }
            int start = _dirtyLo * SectorSize;
            length = Math.Min((_dirtyHi + 1) * SectorSize, _data.Length) - start;
            offset = Offset + start;
            bytes = ArrayPool<byte>.Shared.Rent(length);
            _data.AsSpan(start, length).CopyTo(bytes);
            _dirtyLo = int.MaxValue;
            _dirtyHi = -1;
            return true;
        }
    }

    /// <summary>
    /// Queues entries [first, first+count) to be written and returns a task that completes once a write
    /// that started after this call (so it carries them) is done.
    /// </summary>
    public Task CommitAsync(int first, int count, Func<long, ReadOnlyMemory<byte>, ValueTask> write)
    {
        MarkDirty(first, count);
        return WriteDirtyAsync(write);
    }

    /// <summary>
    /// Starts writing the changed sectors (unless a write is running, in which case they join the next
    /// one) and returns a task that completes when every change made so far is on the file.
    /// </summary>
    public Task WriteDirtyAsync(Func<long, ReadOnlyMemory<byte>, ValueTask> write)
    {
        bool start = false;
        Task result;
        lock (this)
        {
            if (_dirtyHi >= 0)
            {
                _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                result = _next.Task;
                start = !_writing;
                _writing = true;
            }
            else
            {
                result = _next?.Task ?? _inFlight?.Task ?? Task.CompletedTask;
            }
        }
        if (start) _ = WriteLoopAsync(write);
        return result;
    }

    private async Task WriteLoopAsync(Func<long, ReadOnlyMemory<byte>, ValueTask> write)
    {
        while (true)
        {
            TaskCompletionSource done;
            byte[] buffer;
            int length;
            long offset;
            lock (this)
            {
                if (_next is null)
                {
                    _writing = false;
                    _inFlight = null;
                    return;
                }
                done = _next;
                _inFlight = done;
                _next = null;
                int start = _dirtyLo * SectorSize;
                length = Math.Min((_dirtyHi + 1) * SectorSize, _data.Length) - start;
                offset = Offset + start;
                buffer = ArrayPool<byte>.Shared.Rent(length);
                _data.AsSpan(start, length).CopyTo(buffer);
                _dirtyLo = int.MaxValue;
                _dirtyHi = -1;
            }
            try
            {
                await write(offset, buffer.AsMemory(0, length)).ConfigureAwait(false);
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }
}
