using System.Collections.Concurrent;

namespace Qed;

/// <summary>
/// Cache of L2 tables keyed by file offset (QEMU's qed-l2-cache.c holds 50 tables and evicts in
/// insertion order; this one is sized in bytes). A hit takes no lock: it finds the table in a
/// concurrent dictionary and sets its referenced bit; eviction sweeps a clock hand over the tables,
/// giving referenced ones a second chance. Tables that are pinned (an allocation is changing them) or
/// busy (changes not yet written) are never evicted, so the cached copy is the one truth while it
/// differs from the disk. Concurrent misses on one table share one read.
/// </summary>
internal sealed class L2Cache
{
    private readonly object _lock = new();
    private readonly ConcurrentDictionary<long, L2Table> _tables = new();
    private readonly Dictionary<long, Task<L2Table>> _loading = new();
    private readonly List<L2Table> _ring = new();
    private readonly QedCounters _counters;
    private readonly Action? _onPressure;
    private int _hand;

    /// <param name="onPressure">Called (under the cache lock; it must not block) when tables with
    /// unwritten updates keep the cache over capacity.</param>
    public L2Cache(int capacity, QedCounters counters, Action? onPressure = null)
    {
        Capacity = Math.Max(1, capacity);
        _counters = counters;
        _onPressure = onPressure;
    }

    public int Capacity { get; }
    public int Count { get { lock (_lock) return _ring.Count; } }

    public bool TryGet(long offset, out L2Table table)
    {
        if (_tables.TryGetValue(offset, out table!))
        {
            if (!table.Referenced) table.Referenced = true;   // no store (and no cache-line traffic) when already set
            _counters.Increment(Counter.L2CacheHits);
            return true;
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
            if (TryGet(offset, out hit)) return new ValueTask<L2Table>(hit);
            _counters.Increment(Counter.L2CacheMisses);
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
    /// Pins a table so it stays cached while an allocation changes it. Fails if this copy is no longer
    /// the cached one (it was evicted after the caller found it): the caller must look it up again, as
    /// an evicted copy may lack updates made to a newer copy since.
    /// </summary>
    public bool TryPin(L2Table table)
    {
        lock (_lock)
        {
            if (!table.InCache) return false;
            table.Pins++;
            return true;
        }
    }

    /// <summary>
    /// Returns the table pinned, reading it if needed. Only for callers holding the image's allocation
    /// lock: no table can change meanwhile, so a copy just read is current even if it was evicted
    /// before it could be pinned.
    /// </summary>
    public async ValueTask<L2Table> GetPinnedAsync(long offset, Func<long, Task<L2Table>> load)
    {
        var table = await GetAsync(offset, load).ConfigureAwait(false);
        lock (_lock)
        {
            if (!table.InCache)
            {
                if (_tables.TryGetValue(offset, out var current)) table = current;
                else
                {
                    table.Pins++;
                    Insert(table);
                    return table;
                }
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

    /// <summary>Drops every table that is neither pinned nor busy (after a repair rewrote tables on disk).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            foreach (var t in _ring.ToArray())
                if (t.Pins == 0 && !t.IsBusy) Remove(t);
        }
    }

    private void Insert(L2Table table)
    {
        table.InCache = true;
        table.Referenced = true;
        table.RingIndex = _ring.Count;
        _ring.Add(table);
        _tables[table.Offset] = table;
        EvictIfFull();
    }

    private void EvictIfFull()
    {
        // One sweep at most: referenced tables lose their bit and survive until the next sweep; if all
        // tables are in use the cache stays over capacity until they are released (as QEMU's does).
        bool busy = false;
        for (int scanned = 0, n = _ring.Count; _ring.Count > Capacity && scanned < n; scanned++)
        {
            if (_hand >= _ring.Count) _hand = 0;
            var t = _ring[_hand];
            if (t.Pins == 0 && !t.Referenced && !t.IsBusy) Remove(t);
            else
            {
                busy |= t.IsBusy;
                t.Referenced = false;
                _hand++;
            }
        }
        if (busy && _ring.Count > Capacity) _onPressure?.Invoke();
    }

    private void Remove(L2Table t)
    {
        _tables.TryRemove(new KeyValuePair<long, L2Table>(t.Offset, t));
        t.InCache = false;
        int i = t.RingIndex;
        var last = _ring[^1];
        _ring[i] = last;
        last.RingIndex = i;
        _ring.RemoveAt(_ring.Count - 1);
    }
}
