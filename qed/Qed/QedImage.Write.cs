using System.Runtime.CompilerServices;

namespace Qed;

/// <summary>
/// Writes, allocation, write-zeroes, discard and flush (QEMU block/qed.c, qed_aio_write_*).
/// </summary>
/// <remarks>
/// Writes into allocated clusters go straight to the file with no lock and no metadata change.
/// Allocating writes take the allocation lock, look the range up again (another request may have
/// allocated it meanwhile), reserve clusters at the end of the file and update the tables; reads and
/// in-place writes go on meanwhile. Only the guest's bytes are written into a new cluster: the rest
/// of a fresh cluster past the end of the file already reads as zeros.
///
/// Ordering, without a backing file: the need-check bit is made durable first (set, header write,
/// flush), then the table entry and the data are written without a flush between them, as in QEMU;
/// after a power cut the bit makes the next read-write open check and repair the tables. With a
/// backing file (no need-check bit, as in QEMU): copy-on-write data and guest data, then the file is
/// extended to cover the new clusters, then a flush, and only then the L2 update, so a table entry
/// never points at data or file length that could be lost. A new L2 table is written whole and
/// flushed before the L1 entry that points to it.
/// </remarks>
public sealed partial class QedImage
{
    private static readonly byte[] ZeroBuffer = new byte[1 << 20];
    private readonly SemaphoreSlim _allocLock = new(1, 1);
    private readonly HashSet<L2Table> _committing = new();
    private Func<long, ReadOnlyMemory<byte>, ValueTask>? _writeTableSectors;

    private void CheckWritable()
    {
        if (IsReadOnly) throw new BlockIOException($"{Path}: the image is opened read-only");
    }

    /// <summary>Writes guest bytes; allocates clusters where the range is not yet allocated.</summary>
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            CheckRange(offset, buffer.Length);
            CheckWritable();
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
    /// The allocation fast path, without I/O and without waiting: no backing file (so nothing to copy),
    /// the need-check bit already set, the L2 table cached, the durable length already covering the new
    /// clusters, and the allocation lock free. Reserves the clusters, publishes the entries and queues
    /// their table write; the caller then writes the data at <paramref name="host"/>. Returns false when
    /// any condition fails (the slow path handles it). On success the caller must call OnAllocationEnd.
    /// </summary>
    private bool TryAllocateNow(long pos, int length, out long host, out int handled)
    {
        host = 0;
        handled = length;
        if (_backing is not null || !_header.NeedsCheck || !_allocLock.Wait(0)) return false;
        L2Table? pinned = null;
        try
        {
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
            if (_fileEnd + ((long)count << _g.ClusterBits) > _durableEnd) return false;
            if (!_cache.TryPin(run.Table)) return false;
            pinned = run.Table;
            OnAllocationStart();
            long start = ReserveClusters(count);
            pinned.SetEntries(_g.L2Index(pos), count, (ulong)start, (ulong)_g.ClusterSize);
            CommitTableInBackground(pinned, _g.L2Index(pos), count);
            _counters.Increment(Counter.AllocatingWrites);
            _counters.Add(Counter.ClustersAllocated, count);
            host = start + _g.OffsetInCluster(pos);
            return true;
        }
        finally
        {
            if (pinned is not null) _cache.Unpin(pinned);
            _allocLock.Release();
        }
    }

    /// <summary>
    /// Writes the first run of <paramref name="data"/> that needs allocation; returns the bytes it handled.
    /// </summary>
    private async ValueTask<int> AllocatingWriteAsync(long pos, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        OnAllocationStart();
        bool locked = false;
        L2Table? pinned = null;
        try
        {
            await _allocLock.WaitAsync(ct).ConfigureAwait(false);
            locked = true;
            // Look again: tables may have changed while this request waited (QEMU restarts its lookup
            // too). Pin the table found, so it stays the cached one while it changes.
            var run = await FindRunPinnedAsync(pos, data.Length).ConfigureAwait(false);
            pinned = run.Table;
            int n = (int)run.Length;
            var bytes = data[..n];
            if (run.Kind == ClusterKind.Allocated)
            {
                _allocLock.Release();
                locked = false;
                await _file.WriteAsync(run.HostOffset, bytes, ct).ConfigureAwait(false);
                return n;
            }

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
                if (_backing is null) await PrepareUnorderedAllocationAsync(ct).ConfigureAwait(false);
                await WriteNewClustersAsync(host, pos, bytes, copyOnWrite, ct).ConfigureAwait(false);
                await CreateTableAsync(_g.L1Index(pos), first, count, (ulong)host, (ulong)_g.ClusterSize, ct).ConfigureAwait(false);
                return n;
            }

            if (_backing is null)
            {
                await PrepareUnorderedAllocationAsync(ct).ConfigureAwait(false);
                // The new clusters read as zeros until the data lands, as the unallocated range did, so
                // the entries can be published now and the data written outside the lock.
                pinned!.SetEntries(first, count, (ulong)host, (ulong)_g.ClusterSize);
                CommitTableInBackground(pinned, first, count);
                _cache.Unpin(pinned);
                pinned = null;
                _allocLock.Release();
                locked = false;
                await WriteNewClustersAsync(host, pos, bytes, copyOnWrite: false, ct).ConfigureAwait(false);
                return n;
            }

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
            if (locked) _allocLock.Release();
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
    /// Allocates a new L2 table for L1 entry <paramref name="l1Index"/> at the end of the file with
    /// entries [first, first+count) set, in QEMU's order: table written whole, flush, then the L1 sector.
    /// Called under the allocation lock.
    /// </summary>
    private async ValueTask CreateTableAsync(int l1Index, int first, int count, ulong value, ulong step, CancellationToken ct)
    {
        long tableOffset = ReserveClusters(_g.TableSize);
        var table = new L2Table(tableOffset, _g.TableEntries);
        table.SetEntries(first, count, value, step);
        _counters.Increment(Counter.L2Writes);
        await _file.WriteAsync(tableOffset, table.Bytes, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        _metadata = _metadata.Add(tableOffset, tableOffset + _g.TableBytes);
        _cache.Add(table);
        _l1[l1Index] = (ulong)tableOffset;
        await WriteL1SectorAsync(l1Index, ct).ConfigureAwait(false);
    }

    /// <summary>Queues the sectors holding entries [first, first+count) of a table for writing (group commit).</summary>
    private Task CommitTable(L2Table table, int first, int count)
    {
        _writeTableSectors ??= WriteTableSectors;
        lock (_committing) _committing.Add(table);
        return table.CommitAsync(first, count, _writeTableSectors);
    }

    /// <summary>Table updates deferred before they are written (bounds what a power cut can drop).</summary>
    private const int WritebackThreshold = 1024;
    /// <summary>How long a deferred table update may wait for others to share its write.</summary>
    private static readonly TimeSpan WritebackDelay = TimeSpan.FromMilliseconds(20);
    private int _deferredUpdates;
    private int _writebackArmed;
    private ITimer? _writebackTimer;
    private Exception? _commitFailure;

    /// <summary>
    /// Records a table update without writing it yet: used where the need-check bit covers the update
    /// (no backing file), so the request may complete before its entry is on disk. Deferred updates
    /// are written together after a short delay, after many of them, or by a flush (which waits for
    /// them and reports a failure), so a run of allocations costs a few table writes instead of one
    /// each. Tables with unwritten updates stay in the cache.
    /// </summary>
    private void CommitTableInBackground(L2Table table, int first, int count)
    {
        table.MarkDirty(first, count);
        lock (_committing) _committing.Add(table);
        if (Interlocked.Increment(ref _deferredUpdates) >= WritebackThreshold) WriteBackDeferred();
        else if (Interlocked.Exchange(ref _writebackArmed, 1) == 0)
        {
            _writebackTimer ??= _options.TimeProvider.CreateTimer(static s => ((QedImage)s!).OnWritebackTimer(), this,
                Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _writebackTimer.Change(WritebackDelay, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnWritebackTimer()
    {
        Volatile.Write(ref _writebackArmed, 0);
        if (!_disposed) WriteBackDeferred();
    }

    /// <summary>Starts writing every deferred table update; failures are reported by the next flush.</summary>
    private void WriteBackDeferred()
    {
        Volatile.Write(ref _deferredUpdates, 0);
        L2Table[] tables;
        lock (_committing) tables = _committing.ToArray();
        _writeTableSectors ??= WriteTableSectors;
        foreach (var t in tables)
        {
            var task = t.WriteDirtyAsync(_writeTableSectors);
            if (!task.IsCompleted)
                task.ContinueWith(static (t, s) => ((QedImage)s!).RecordCommitFailure(t), this,
                    CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            else if (task.IsFaulted) RecordCommitFailure(task);
        }
    }

    private void RecordCommitFailure(Task t) =>
        Interlocked.CompareExchange(ref _commitFailure, t.Exception!.InnerException ?? t.Exception, null);

    private ValueTask WriteTableSectors(long offset, ReadOnlyMemory<byte> bytes)
    {
        _counters.Increment(Counter.L2Writes);
        return _file.WriteAsync(offset, bytes);
    }

    /// <summary>Writes every deferred table update and waits until all table writes are done.</summary>
    private async ValueTask DrainCommitsAsync()
    {
        L2Table[] tables;
        lock (_committing)
        {
            if (_committing.Count == 0 && _commitFailure is null) return;
            tables = _committing.ToArray();
        }
        Volatile.Write(ref _deferredUpdates, 0);
        _writeTableSectors ??= WriteTableSectors;
        foreach (var t in tables)
        {
            try
            {
                await t.WriteDirtyAsync(_writeTableSectors).ConfigureAwait(false);
            }
            catch (ImageException e)
            {
                Interlocked.CompareExchange(ref _commitFailure, e, null);
            }
        }
        lock (_committing)
            foreach (var t in tables)
                if (!t.IsBusy) _committing.Remove(t);
        if (Interlocked.Exchange(ref _commitFailure, null) is { } failure)
            throw new BlockIOException($"{Path}: an L2 table update failed, so data written since the last flush may be lost: {failure.Message}", failure);
    }

    /// <summary>
    /// Grows the file to cover every reserved cluster (only guest bytes were written into new clusters,
    /// so the file may end inside one). Never shrinks: the length is read under the allocation lock,
    /// so no reservation can race past it.
    /// </summary>
    private async ValueTask EnsureFileLengthAsync(bool holdingAllocLock, CancellationToken ct)
    {
        if (_file.GetLength() >= Volatile.Read(ref _fileEnd)) return;
        if (!holdingAllocLock) await _allocLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            long end = _fileEnd;
            if (_file.GetLength() < end) await _file.SetLengthAsync(end, ct).ConfigureAwait(false);
        }
        finally
        {
            if (!holdingAllocLock) _allocLock.Release();
        }
    }

    /// <summary>Makes every completed write durable: pending table updates, the file length, then a host flush.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_disposed) throw new BlockIOException($"{Path}: the image is closed");
        if (IsReadOnly) return;
        await FlushCoreAsync(cancellationToken, holdingAllocLock: false).ConfigureAwait(false);
    }

    private async ValueTask FlushCoreAsync(CancellationToken ct, bool holdingAllocLock = true)
    {
        await DrainCommitsAsync().ConfigureAwait(false);
        await EnsureFileLengthAsync(holdingAllocLock, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes the range read as zeros. Whole clusters become zero clusters (entry 1) without data, as in
    /// QEMU; already allocated clusters get zeros written in place; partial clusters at the edges get
    /// zeros written as data. Without a backing file, unallocated clusters already read as zeros and
    /// are left alone (QEMU marks them anyway).
    /// </summary>
    public async ValueTask WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, length);
        CheckWritable();
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
            await _allocLock.WaitAsync(ct).ConfigureAwait(false);
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
                    _allocLock.Release();
                    locked = false;
                    for (long done = 0; done < n;)
                    {
                        int chunk = (int)Math.Min(n - done, ZeroBuffer.Length);
                        await _file.WriteAsync(run.HostOffset + done, ZeroBuffer.AsMemory(0, chunk), ct).ConfigureAwait(false);
                        done += chunk;
                    }
                    return n;
            }
            if (_backing is null || pos >= _backing.Size) return n;   // already reads as zeros
            if (run.Table is null)
            {
                await CreateTableAsync(_g.L1Index(pos), first, count, 1, 0, ct).ConfigureAwait(false);
                return n;
            }
            pinned!.SetEntries(first, count, 1, 0);
            await CommitTable(pinned, first, count).ConfigureAwait(false);
            return n;
        }
        finally
        {
            if (pinned is not null) _cache.Unpin(pinned);
            if (locked) _allocLock.Release();
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
