namespace Qed;

/// <summary>
/// Table writes, the file length and flush: the ordering that keeps an image consistent across a
/// power cut (see qed/README.md, "Ordering and guarantees").
/// </summary>
/// <remarks>
/// Without a backing file (the need-check bit covers the tables): allocations change cached L2 entries
/// and defer their table writes. A write-back (at a flush, when the need-check timer clears the bit,
/// or when dirty tables crowd the cache) first snapshots the changed sectors and the end of the
/// allocated space under the allocation lock, then extends the file to that end and flushes, and only
/// then writes the table sectors; so no table entry can reach the disk before the file length that
/// covers its cluster. A run of allocations costs one data write each and a few table writes.
///
/// With a backing file (no need-check bit, as in QEMU): copy-on-write data and guest data, then the
/// file extended to cover the new clusters, then a flush, then the table update, written at once.
///
/// In both modes a new L2 table is written whole and flushed before the L1 entry that points to it.
/// </remarks>
public sealed partial class QedImage
{
    private readonly HashSet<L2Table> _committing = new();
    /// <summary>Serializes write-backs (so a sector's snapshots reach the file in order); taken before the allocation lock.</summary>
    private readonly SemaphoreSlim _writebackLock = new(1, 1);
    private Func<long, ReadOnlyMemory<byte>, ValueTask>? _writeTableSectors;
    private int _pressureWriteback;
    /// <summary>
    /// How far the file has been extended ahead of the allocations (no backing file only). Writes that
    /// land inside the file's length are much cheaper for the host file system than writes that extend
    /// it, so the file is grown in steps; the step is not flushed (nothing relies on it) and the unused
    /// tail is cut off when the need-check bit is cleared or the image is closed, and given back by the
    /// repair after a power cut.
    /// </summary>
    private long _extendedTo;

    /// <summary>Grows the file ahead of the allocations (under the allocation lock).</summary>
    private async ValueTask ExtendAheadAsync(CancellationToken ct)
    {
        long step = Math.Clamp(_fileEnd / 4, 1L << 20, 256L << 20);
        long target = _g.StartOfCluster(_fileEnd + step + _g.ClusterSize - 1);
        if (_file.GetLength() < target) await _file.SetLengthAsync(target, ct).ConfigureAwait(false);
        _extendedTo = target;
    }

    /// <summary>Cuts the file back to the allocated end (under the allocation lock, no allocation in flight).</summary>
    private async ValueTask TrimExtensionAsync(CancellationToken ct)
    {
        if (_file.GetLength() > _fileEnd) await _file.SetLengthAsync(_fileEnd, ct).ConfigureAwait(false);
        _extendedTo = _fileEnd;
    }

    /// <summary>
    /// Allocates a new L2 table for L1 entry <paramref name="l1Index"/> at the end of the file with
    /// entries [first, first+count) set. With a backing file, in QEMU's order: table written whole,
    /// flush, then the L1 sector. Without one, the table is written now and its L1 entry is deferred to
    /// the next write-back, which flushes before it writes L1 sectors; either way the L1 entry reaches
    /// the disk only after the table does. Called under the allocation lock (slow path).
    /// </summary>
    private async ValueTask CreateTableAsync(int l1Index, int first, int count, ulong value, ulong step, CancellationToken ct)
    {
        if (_backing is null && _fileEnd + _g.TableBytes > _extendedTo) await ExtendAheadAsync(ct).ConfigureAwait(false);
        long tableOffset = ReserveClusters(_g.TableSize);
        var table = new L2Table(tableOffset, _g.TableEntries);
        table.SetEntries(first, count, value, step);
        _counters.Increment(Counter.L2Writes);
        await _file.WriteAsync(tableOffset, table.Bytes, ct).ConfigureAwait(false);
        _metadata = _metadata.Add(tableOffset, tableOffset + _g.TableBytes);
        if (_backing is null)
        {
            _cache.Add(table);
            _l1[l1Index] = (ulong)tableOffset;
            _l1DirtyLo = Math.Min(_l1DirtyLo, l1Index / L1EntriesPerSector);
            _l1DirtyHi = Math.Max(_l1DirtyHi, l1Index / L1EntriesPerSector);
            return;
        }
        await _file.FlushAsync(ct).ConfigureAwait(false);
        _cache.Add(table);
        _l1[l1Index] = (ulong)tableOffset;
        await WriteL1SectorAsync(l1Index, ct).ConfigureAwait(false);
    }

    private const int L1EntriesPerSector = 512 / 8;
    /// <summary>L1 sectors changed and not yet written (deferred mode), guarded by the allocation lock.</summary>
    private int _l1DirtyLo = int.MaxValue, _l1DirtyHi = -1;

    /// <summary>Copies the changed L1 sectors (under the allocation lock) and marks them clean.</summary>
    private (long Offset, byte[] Bytes, int First, int End)? TakeL1Snapshot()
    {
        if (_l1DirtyHi < 0) return null;
        int first = _l1DirtyLo * L1EntriesPerSector;
        int end = Math.Min((_l1DirtyHi + 1) * L1EntriesPerSector, _l1.Length);
        var bytes = new byte[(end - first) * 8];
        for (int i = first; i < end; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((i - first) * 8), _l1[i]);
        _l1DirtyLo = int.MaxValue;
        _l1DirtyHi = -1;
        return ((long)_header.L1TableOffset + first * 8L, bytes, first, end);
    }

    /// <summary>Writes the sectors holding entries [first, first+count) of a table now (group commit) and waits.</summary>
    private Task CommitTable(L2Table table, int first, int count)
    {
        _writeTableSectors ??= WriteTableSectors;
        lock (_committing) _committing.Add(table);
        return table.CommitAsync(first, count, _writeTableSectors);
    }

    private ValueTask WriteTableSectors(long offset, ReadOnlyMemory<byte> bytes)
    {
        _counters.Increment(Counter.L2Writes);
        return _file.WriteAsync(offset, bytes);
    }

    /// <summary>
    /// Records a changed table without writing it (no backing file only): the next write-back writes
    /// it, after the file length that covers its new clusters is durable. Dirty tables stay cached.
    /// </summary>
    private void DeferTableUpdate(L2Table table, int first, int count)
    {
        table.MarkDirty(first, count);
        lock (_committing) _committing.Add(table);
    }

    /// <summary>Called by the cache when dirty tables keep it over capacity: write them back in the background.</summary>
    private void OnCachePressure()
    {
        if (_disposed || Interlocked.Exchange(ref _pressureWriteback, 1) != 0) return;
        ThreadPool.UnsafeQueueUserWorkItem(static image => _ = image.PressureWriteBackAsync(), this, preferLocal: false);
    }

    private async Task PressureWriteBackAsync()
    {
        try
        {
            if (!_disposed) await WriteBackAsync(holdingLocks: false, default).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ImageException or ObjectDisposedException or IOException)
        {
            // The changes stay marked dirty: the next flush writes them again and reports a failure.
        }
        finally
        {
            Volatile.Write(ref _pressureWriteback, 0);
        }
    }

    /// <summary>
    /// Writes every deferred table update: snapshot the dirty sectors and the allocated end under the
    /// allocation lock, extend the file to that end, flush, then write the sectors. If anything fails,
    /// the snapshotted sectors are marked dirty again, so a later write-back retries them.
    /// </summary>
    /// <param name="holdingLocks">True when the caller already holds the write-back lock and the allocation lock.</param>
    private async ValueTask WriteBackAsync(bool holdingLocks, CancellationToken ct)
    {
        if (!holdingLocks) await _writebackLock.WaitAsync(ct).ConfigureAwait(false);
        var snapshots = new List<(L2Table Table, long Offset, byte[] Bytes, int Length)>();
        (long Offset, byte[] Bytes, int First, int End)? l1 = null;
        try
        {
            if (!holdingLocks) await AcquireAllocationAsync(ct).ConfigureAwait(false);
            try
            {
                l1 = TakeL1Snapshot();
                lock (_committing)
                {
                    foreach (var t in _committing)
                        if (t.TakeDirtySnapshot(out long offset, out var bytes, out int length))
                            snapshots.Add((t, offset, bytes, length));
                    _committing.RemoveWhere(t => !t.IsBusy);
                }
                // Every snapshotted entry was published under this lock, so its cluster lies below the
                // end read here; growing the file now cannot cut a data write short either.
                if ((snapshots.Count > 0 || l1 is not null) && _file.GetLength() < _fileEnd)
                    await _file.SetLengthAsync(_fileEnd, ct).ConfigureAwait(false);
            }
            finally
            {
                if (!holdingLocks) ReleaseAllocation();
            }
            if (snapshots.Count == 0 && l1 is null) return;
            await _file.FlushAsync(ct).ConfigureAwait(false);
            if (l1 is { } l1Sectors)
            {
                _counters.Increment(Counter.L1Writes);
                await _file.WriteAsync(l1Sectors.Offset, l1Sectors.Bytes, ct).ConfigureAwait(false);
            }
            foreach (var (_, offset, bytes, length) in snapshots)
                await WriteTableSectors(offset, bytes.AsMemory(0, length)).ConfigureAwait(false);
            snapshots.ForEach(s => System.Buffers.ArrayPool<byte>.Shared.Return(s.Bytes));
            snapshots.Clear();
            l1 = null;
        }
        finally
        {
            // Only after a failure is anything left here: mark it dirty again for the next write-back.
            foreach (var (table, offset, bytes, length) in snapshots)
            {
                int first = (int)((offset - table.Offset) / 8);
                table.MarkDirty(first, length / 8);
                lock (_committing) _committing.Add(table);
                System.Buffers.ArrayPool<byte>.Shared.Return(bytes);
            }
            if (l1 is { } failed)
            {
                _l1DirtyLo = Math.Min(_l1DirtyLo, failed.First / L1EntriesPerSector);
                _l1DirtyHi = Math.Max(_l1DirtyHi, (failed.End - 1) / L1EntriesPerSector);
            }
            if (!holdingLocks) _writebackLock.Release();
        }
    }

    /// <summary>Waits for table writes started by the ordered path (with a backing file).</summary>
    private async ValueTask DrainCommitsAsync()
    {
        L2Table[] tables;
        lock (_committing)
        {
            if (_committing.Count == 0) return;
            tables = _committing.ToArray();
        }
        _writeTableSectors ??= WriteTableSectors;
        foreach (var t in tables) await t.WriteDirtyAsync(_writeTableSectors).ConfigureAwait(false);
        lock (_committing) _committing.RemoveWhere(t => !t.IsBusy);
    }

    /// <summary>
    /// Grows the file to cover every reserved cluster (only guest bytes were written into new clusters,
    /// so the file may end inside one). Never shrinks: the length is set under the allocation lock, so
    /// no cluster reserved later can have been written past it.
    /// </summary>
    private async ValueTask EnsureFileLengthAsync(bool holdingAllocLock, CancellationToken ct)
    {
        if (_file.GetLength() >= Volatile.Read(ref _fileEnd)) return;
        if (!holdingAllocLock) await AcquireAllocationAsync(ct).ConfigureAwait(false);
        try
        {
            long end = _fileEnd;
            if (_file.GetLength() < end) await _file.SetLengthAsync(end, ct).ConfigureAwait(false);
        }
        finally
        {
            if (!holdingAllocLock) ReleaseAllocation();
        }
    }

    /// <summary>Makes every completed write durable: table updates, the file length, then a host flush.</summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_disposed) throw new BlockIOException($"{Path}: the image is closed");
        if (IsReadOnly) return;
        await FlushCoreAsync(holdingLocks: false, cancellationToken).ConfigureAwait(false);
    }

    /// <param name="holdingLocks">True when the caller holds the write-back lock and the allocation lock.</param>
    private async ValueTask FlushCoreAsync(bool holdingLocks, CancellationToken ct)
    {
        if (_backing is null) await WriteBackAsync(holdingLocks, ct).ConfigureAwait(false);
        else await DrainCommitsAsync().ConfigureAwait(false);
        await EnsureFileLengthAsync(holdingLocks, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
    }
}
