namespace Qed;

/// <summary>
/// Cache of L2 tables keyed by file offset, least recently used evicted first (QEMU's qed-l2-cache.c
/// evicts by insertion order and holds 50 tables; this one is sized in bytes and tracks use).
/// Tables that are pinned (an allocation is changing them) or busy (changes not yet written) are
/// never evicted, so the cached copy is always the one truth while it differs from the disk.
/// Concurrent misses on one table share one read.
/// </summary>
internal sealed class L2Cache
{
    private readonly object _lock = new();
    private readonly Dictionary<long, L2Table> _tables = new();
    private readonly Dictionary<long, Task<L2Table>> _loading = new();
    private readonly QedCounters _counters;
    private L2Table? _newest, _oldest;

    public L2Cache(int capacity, QedCounters counters)
    {
        Capacity = Math.Max(1, capacity);
        _counters = counters;
    }

    public int Capacity { get; }
    public int Count { get { lock (_lock) return _tables.Count; } }

    public bool TryGet(long offset, out L2Table table)
    {
        lock (_lock)
        {
            if (_tables.TryGetValue(offset, out table!))
            {
                MoveToNewest(table);
                Interlocked.Increment(ref _counters.L2CacheHits);
                return true;
            }
        }
        return false;
    }

    /// <summary>Returns the cached table, or reads it with <paramref name="load"/> (once, however many ask).</summary>
    public ValueTask<L2Table> GetAsync(long offset, Func<long, Task<L2Table>> load)
    {
        if (TryGet(offset, out var hit)) return new ValueTask<L2Table>(hit);
        Task<L2Table> task;
        lock (_lock)
        {
            if (_tables.TryGetValue(offset, out hit))
            {
                MoveToNewest(hit);
                Interlocked.Increment(ref _counters.L2CacheHits);
                return new ValueTask<L2Table>(hit);
            }
            Interlocked.Increment(ref _counters.L2CacheMisses);
            if (!_loading.TryGetValue(offset, out task!))
            {
                task = LoadAndInsertAsync(offset, load);
                if (!task.IsCompleted) _loading[offset] = task;
            }
        }
        return new ValueTask<L2Table>(task);
    }

    private async Task<L2Table> LoadAndInsertAsync(long offset, Func<long, Task<L2Table>> load)
    {
        try
        {
            var table = await load(offset).ConfigureAwait(false);
            lock (_lock)
            {
                if (_tables.TryGetValue(offset, out var existing)) return existing;   // first commit wins
                Insert(table);
                return table;
            }
        }
        finally
        {
            lock (_lock) _loading.Remove(offset);
        }
    }

    /// <summary>
    /// Pins a table so it stays cached while an allocation changes it. If this copy was evicted meanwhile,
    /// the cached copy (or this one, re-inserted) is pinned and returned instead.
    /// </summary>
    public L2Table Pin(L2Table table)
    {
        lock (_lock)
        {
            if (!table.InCache)
            {
                if (_tables.TryGetValue(table.Offset, out var current)) table = current;
                else Insert(table);
            }
            table.Pins++;
            return table;
        }
    }

    public void Unpin(L2Table table)
    {
        lock (_lock)
        {
            table.Pins--;
            EvictIfFull();
        }
    }

    /// <summary>Adds a table that was just created and written (a new L2 table).</summary>
    public void Add(L2Table table)
    {
        lock (_lock)
        {
            if (_tables.TryGetValue(table.Offset, out var old)) Remove(old);
            Insert(table);
        }
    }

    /// <summary>Drops every table that is not busy (after a repair rewrote tables on disk).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            foreach (var t in _tables.Values.ToArray())
                if (t.Pins == 0 && !t.IsBusy) Remove(t);
        }
    }

    private void Insert(L2Table table)
    {
        _tables[table.Offset] = table;
        table.InCache = true;
        table.Older = _newest;
        table.Newer = null;
        if (_newest is not null) _newest.Newer = table;
        _newest = table;
        _oldest ??= table;
        EvictIfFull();
    }

    private void EvictIfFull()
    {
        var candidate = _oldest;
        while (_tables.Count > Capacity && candidate is not null)
        {
            var next = candidate.Newer;
            if (candidate.Pins == 0 && !candidate.IsBusy) Remove(candidate);
            candidate = next;
        }
    }

    private void Remove(L2Table t)
    {
        _tables.Remove(t.Offset);
        t.InCache = false;
        Unlink(t);
    }

    private void Unlink(L2Table t)
    {
        if (t.Newer is not null) t.Newer.Older = t.Older; else _newest = t.Older;
        if (t.Older is not null) t.Older.Newer = t.Newer; else _oldest = t.Newer;
        t.Newer = t.Older = null;
    }

    private void MoveToNewest(L2Table t)
    {
        if (_newest == t) return;
        Unlink(t);
        t.Older = _newest;
        if (_newest is not null) _newest.Newer = t;
        _newest = t;
        _oldest ??= t;
    }
}
