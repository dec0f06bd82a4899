using System.Runtime.CompilerServices;

namespace Qed;

/// <summary>
/// Writes, allocation, write-zeroes and discard (QEMU block/qed.c, qed_aio_write_*). Table writes,
/// the file length and flush are in QedImage.Metadata.cs.
/// </summary>
/// <remarks>
/// Writes into allocated clusters go straight to the file with no lock and no metadata change.
/// Allocating writes take the allocation lock, look the range up again (another request may have
/// allocated it meanwhile), reserve clusters at the end of the file and update the tables; reads and
/// in-place writes go on meanwhile. Only the guest's bytes are written into a new cluster: the rest
/// of a fresh cluster past the end of the file already reads as zeros.
/// </remarks>
public sealed partial class QedImage
{
    private static readonly byte[] ZeroBuffer = new byte[1 << 20];
    /// <summary>
    /// Held by allocation work that waits for I/O (need-check bit, new tables, copy-on-write, repair,
    /// write-back snapshots). While it is held <see cref="_slowAllocation"/> is set, and the fast path
    /// (in-memory work under <see cref="_allocSync"/>) stays out. A semaphore alone would convoy: once
    /// requests queue on it, it is handed from waiter to waiter and a try-acquire never succeeds.
    /// </summary>
    private readonly SemaphoreSlim _allocLock = new(1, 1);
    private readonly object _allocSync = new();
    private bool _slowAllocation;

    private async ValueTask AcquireAllocationAsync(CancellationToken ct)
    {
        await _allocLock.WaitAsync(ct).ConfigureAwait(false);
        lock (_allocSync) _slowAllocation = true;
    }

    private bool TryAcquireAllocation()
    {
        if (!_allocLock.Wait(0)) return false;
        lock (_allocSync) _slowAllocation = true;
        return true;
    }

    private void ReleaseAllocation()
    {
        lock (_allocSync) _slowAllocation = false;
        _allocLock.Release();
    }

    private void CheckWritable()
    {
        if (IsReadOnly) throw new BlockIOException($"{Path}: the image is opened read-only");
    }

    /// <summary>Guest writes need the backing file: new clusters copy from it, and zero clusters hide it.</summary>
    private void CheckDataWritable()
    {
        CheckWritable();
        if (_header.HasBackingFile && _backing is null)
            throw new BlockIOException($"{Path}: the image was opened without its backing file, so guest data cannot be written");
    }

    /// <summary>Writes guest bytes; allocates clusters where the range is not yet allocated.</summary>
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            CheckRange(offset, buffer.Length);
            CheckDataWritable();
        }
        catch (ImageException e)
        {
            return ValueTask.FromException(e);
        }
        _counters.Increment(Counter.GuestWrites);
        _counters.Add(Counter.GuestBytesWritten, buffer.Length);
        // The common case, one run of allocated clusters: one host write and no state machine here.
        if (TryFindRun(offset, buffer.Length, out var run) && run.Length == buffer.Length && run.Kind == ClusterKind.Allocated)
            return _file.WriteAsync(run.HostOffset, buffer, cancellationToken);
        return WriteRunsAsync(offset, buffer, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteRunsAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        long pos = offset;
        int done = 0;
        while (done < buffer.Length)
        {
            if (!TryFindRun(pos, buffer.Length - done, out var run))
                run = await FindRunSlowAsync(pos, buffer.Length - done).ConfigureAwait(false);
            int n = (int)run.Length;
            if (run.Kind == ClusterKind.Allocated)
            {
                await _file.WriteAsync(run.HostOffset, buffer.Slice(done, n), cancellationToken).ConfigureAwait(false);
            }
            else if (TryAllocateNow(pos, n, out long host, out n))
            {
                try
                {
                    await _file.WriteAsync(host, buffer.Slice(done, n), cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    OnAllocationEnd();
                }
            }
            else
            {
                n = await AllocatingWriteAsync(pos, buffer.Slice(done, n), cancellationToken).ConfigureAwait(false);
            }
            pos += n;
            done += n;
        }
    }

    /// <summary>
    /// The allocation fast path, with no I/O and no waiting. It applies when there is no backing file
    /// (nothing to copy), the need-check bit is already set, the L2 table is cached and the allocation
    /// lock is free: it reserves the clusters and changes the cached entries (their table write is
    /// deferred, see <see cref="DeferTableUpdate"/>); the caller then writes the data at
    /// <paramref name="host"/>. The new clusters read as zeros until the data lands, as the unallocated
    /// range did, so the entries may be visible first. On success the caller must call OnAllocationEnd.
    /// </summary>
    private bool TryAllocateNow(long pos, int length, out long host, out int handled)
    {
        host = 0;
        handled = length;
        if (_backing is not null || !_header.NeedsCheck) return false;
        lock (_allocSync)
        {
            if (_slowAllocation) return false;
            if (!TryFindRun(pos, length, out var run) || run.Table is null) return false;
            handled = (int)run.Length;
            if (run.Kind == ClusterKind.Allocated)
            {
                // Another request allocated it meanwhile: write in place.
                OnAllocationStart();
                host = run.HostOffset;
                return true;
            }
            int count = _g.ClustersInRange(pos, handled);
            if (_fileEnd + ((long)count << _g.ClusterBits) > _extendedTo) return false;
            if (!_cache.TryPin(run.Table)) return false;
            try
            {
                OnAllocationStart();
                long start = ReserveClusters(count);
                run.Table.SetEntries(_g.L2Index(pos), count, (ulong)start, (ulong)_g.ClusterSize);
                DeferTableUpdate(run.Table, _g.L2Index(pos), count);
                _counters.Increment(Counter.AllocatingWrites);
                _counters.Add(Counter.ClustersAllocated, count);
                host = start + _g.OffsetInCluster(pos);
                return true;
            }
            finally
            {
                _cache.Unpin(run.Table);
            }
        }
    }

    /// <summary>
    /// Writes the first run of <paramref name="data"/> that needs allocation; returns the bytes it handled.
    /// </summary>
    private async ValueTask<int> AllocatingWriteAsync(long pos, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        // Slow paths queue here one at a time. The first thing each tries, once its turn comes, is the
        // in-memory allocation (another request may have loaded the table or set the bit meanwhile);
        // only work that waits for I/O shuts the fast path out.
        await _allocLock.WaitAsync(ct).ConfigureAwait(false);
        if (TryAllocateNow(pos, data.Length, out long fastHost, out int fastLength))
        {
            _allocLock.Release();
            try
            {
                await _file.WriteAsync(fastHost, data[..fastLength], ct).ConfigureAwait(false);
            }
            finally
            {
                OnAllocationEnd();
            }
            return fastLength;
        }
        lock (_allocSync) _slowAllocation = true;

        OnAllocationStart();
        bool locked = true;
        L2Table? pinned = null;
        try
        {
            // Look again: tables may have changed while this request waited (QEMU restarts its lookup
            // too). The table comes back pinned, so it stays the cached one while it changes.
            var run = await FindRunPinnedAsync(pos, data.Length).ConfigureAwait(false);
            pinned = run.Table;
            int n = (int)run.Length;
            var bytes = data[..n];
            if (run.Kind == ClusterKind.Allocated)
            {
                ReleaseAllocation();
                locked = false;
                await _file.WriteAsync(run.HostOffset, bytes, ct).ConfigureAwait(false);
                return n;
            }

            if (_backing is null) await EnsureNeedCheckAsync(ct).ConfigureAwait(false);
            int first = _g.L2Index(pos);
            int count = _g.ClustersInRange(pos, n);
            long host = ReserveClusters(count);
            _counters.Increment(Counter.AllocatingWrites);
            _counters.Add(Counter.ClustersAllocated, count);
            // A zero cluster's untouched bytes stay zeros; an unallocated one's come from the backing file.
            // (QEMU copies from the backing file in both cases, which brings hidden backing data back.)
            bool copyOnWrite = _backing is not null && run.IsUnallocated;

            if (run.Table is null)
            {
                await WriteNewClustersAsync(host, pos, bytes, copyOnWrite, ct).ConfigureAwait(false);
                await CreateTableAsync(_g.L1Index(pos), first, count, (ulong)host, (ulong)_g.ClusterSize, ct).ConfigureAwait(false);
                return n;
            }

            if (_backing is null)
            {
                if (_fileEnd > _extendedTo) await ExtendAheadAsync(ct).ConfigureAwait(false);
                pinned!.SetEntries(first, count, (ulong)host, (ulong)_g.ClusterSize);
                DeferTableUpdate(pinned, first, count);
                _cache.Unpin(pinned);
                pinned = null;
                ReleaseAllocation();
                locked = false;
                await WriteNewClustersAsync(host, pos, bytes, copyOnWrite: false, ct).ConfigureAwait(false);
                return n;
            }

            // With a backing file, QEMU's order: data, then a flush, then the table update (here with
            // the file extended before that flush, since only the guest's bytes were written).
            await WriteNewClustersAsync(host, pos, bytes, copyOnWrite, ct).ConfigureAwait(false);
            await EnsureFileLengthAsync(holdingAllocLock: true, ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
            pinned!.SetEntries(first, count, (ulong)host, (ulong)_g.ClusterSize);
            await CommitTable(pinned, first, count).ConfigureAwait(false);
            return n;
        }
        finally
        {
            if (pinned is not null) _cache.Unpin(pinned);
            if (locked) ReleaseAllocation();
            OnAllocationEnd();
        }
    }

    /// <summary>Takes <paramref name="count"/> clusters at the end of the file (in memory; under the allocation lock).</summary>
    private long ReserveClusters(int count)
    {
        long host = _fileEnd;
        Volatile.Write(ref _fileEnd, host + ((long)count << _g.ClusterBits));
        return host;
    }

    /// <summary>
    /// Fills freshly reserved clusters: the copy-on-write head and tail from the backing file (skipped
    /// where the backing data is zeros, since fresh clusters read as zeros), then the guest's bytes.
    /// </summary>
    private async ValueTask WriteNewClustersAsync(long host, long pos, ReadOnlyMemory<byte> bytes, bool copyOnWrite, CancellationToken ct)
    {
        long clusterStart = _g.StartOfCluster(pos);
        int inCluster = _g.OffsetInCluster(pos);
        if (copyOnWrite)
        {
            if (inCluster > 0)
                await CopyFromBackingAsync(clusterStart, inCluster, host, ct).ConfigureAwait(false);
            long end = pos + bytes.Length;
            long runEnd = _g.StartOfCluster(end - 1) + _g.ClusterSize;
            if (runEnd > end)
                await CopyFromBackingAsync(end, (int)(runEnd - end), host + (end - clusterStart), ct).ConfigureAwait(false);
        }
        await _file.WriteAsync(host + inCluster, bytes, ct).ConfigureAwait(false);
    }

    private async ValueTask CopyFromBackingAsync(long guestPos, int length, long hostOffset, CancellationToken ct)
    {
        var backing = _backing!;
        if (guestPos >= backing.Size) return;
        length = (int)Math.Min(length, backing.Size - guestPos);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var part = buffer.AsMemory(0, length);
            await backing.ReadAsync(guestPos, part, ct).ConfigureAwait(false);
            if (part.Span.IndexOfAnyExcept((byte)0) < 0) return;
            _counters.Add(Counter.CopyOnWriteBytes, length);
            await _file.WriteAsync(hostOffset, part, ct).ConfigureAwait(false);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Makes the range read as zeros, as QEMU's bdrv_qed_co_pwrite_zeroes does: whole clusters that are
    /// not allocated become zero clusters (entry 1, no data; an L2 table is allocated if needed), so map
    /// shows them as allocated zeros; already allocated clusters get zeros written in place; partial
    /// clusters at the edges get zeros written as data. With a backing file they are marked even past its
    /// end: the backing file may grow later (or be this very file), and the zeros must stay.
    /// </summary>
    public async ValueTask WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, length);
        CheckDataWritable();
        long pos = offset, end = offset + length;
        while (pos < end)
        {
            long n;
            if (!_g.IsClusterAligned(pos) || end - pos < _g.ClusterSize)
            {
                n = Math.Min(end, _g.StartOfCluster(pos) + _g.ClusterSize) - pos;
                await WriteZeroBytesAsync(pos, n, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                n = await ZeroClustersAsync(pos, _g.StartOfCluster(end) - pos, cancellationToken).ConfigureAwait(false);
            }
            pos += n;
        }
    }

    private async ValueTask WriteZeroBytesAsync(long pos, long length, CancellationToken ct)
    {
        while (length > 0)
        {
            int n = (int)Math.Min(length, ZeroBuffer.Length);
            await WriteAsync(pos, ZeroBuffer.AsMemory(0, n), ct).ConfigureAwait(false);
            pos += n;
            length -= n;
        }
    }

    /// <summary>Zeroes the first run of whole clusters at <paramref name="pos"/>; returns the bytes handled.</summary>
    private async ValueTask<long> ZeroClustersAsync(long pos, long length, CancellationToken ct)
    {
        OnAllocationStart();
        bool locked = false;
        L2Table? pinned = null;
        try
        {
            await AcquireAllocationAsync(ct).ConfigureAwait(false);
            locked = true;
            var run = await FindRunPinnedAsync(pos, length).ConfigureAwait(false);
            pinned = run.Table;
            long n = run.Length;
            int first = _g.L2Index(pos);
            int count = (int)(n >> _g.ClusterBits);
            switch (run.Kind)
            {
                case ClusterKind.Zero:
                    return n;
                case ClusterKind.Allocated:
                    ReleaseAllocation();
                    locked = false;
                    for (long done = 0; done < n;)
                    {
                        int chunk = (int)Math.Min(n - done, ZeroBuffer.Length);
                        await _file.WriteAsync(run.HostOffset + done, ZeroBuffer.AsMemory(0, chunk), ct).ConfigureAwait(false);
                        done += chunk;
                    }
                    return n;
            }
            // Without a backing file the entries go out with the next write-back, under the need-check
            // bit as QEMU's do; a lost zero entry leaves the cluster unallocated, which reads as zeros too.
            if (_backing is null) await EnsureNeedCheckAsync(ct).ConfigureAwait(false);
            if (run.Table is null)
            {
                await CreateTableAsync(_g.L1Index(pos), first, count, 1, 0, ct).ConfigureAwait(false);
                return n;
            }
            pinned!.SetEntries(first, count, 1, 0);
            if (_backing is null) DeferTableUpdate(pinned, first, count);
            else await CommitTable(pinned, first, count).ConfigureAwait(false);   // ordered behind nothing: no new data
            return n;
        }
        finally
        {
            if (pinned is not null) _cache.Unpin(pinned);
            if (locked) ReleaseAllocation();
            OnAllocationEnd();
        }
    }

    /// <summary>Accepted and ignored, as QEMU does: QED has no way to free a cluster.</summary>
    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        try
        {
            CheckRange(offset, length);
            CheckWritable();
        }
        catch (ImageException e)
        {
            return ValueTask.FromException(e);
        }
        return ValueTask.CompletedTask;
    }
}
