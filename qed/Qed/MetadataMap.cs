namespace Qed;

/// <summary>
/// The byte ranges that hold metadata (header area, L1 table, every L2 table), so a table or data
/// cluster that would land on top of them is caught before it is read or written. Immutable: adding a
/// range returns a new map, which the image swaps in under its allocation lock.
/// </summary>
internal sealed class MetadataMap
{
    private readonly long[] _starts;
    private readonly long[] _ends;
    /// <summary>Largest end among ranges 0..i, so overlapping ranges are still found by one binary search.</summary>
    private readonly long[] _maxEnd;

    public MetadataMap(IEnumerable<(long Start, long End)> ranges)
    {
        var sorted = ranges.OrderBy(r => r.Start).ToArray();
        _starts = sorted.Select(r => r.Start).ToArray();
        _ends = sorted.Select(r => r.End).ToArray();
        _maxEnd = new long[sorted.Length];
        long max = long.MinValue;
        for (int i = 0; i < sorted.Length; i++) _maxEnd[i] = max = Math.Max(max, _ends[i]);
    }

    public MetadataMap Add(long start, long end) =>
        new(Enumerable.Range(0, _starts.Length).Select(i => (_starts[i], _ends[i])).Append((start, end)));

    /// <summary>True if [start, end) shares a byte with any metadata range.</summary>
    public bool Overlaps(long start, long end)
    {
        int lo = 0, hi = _starts.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_starts[mid] < end) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return found >= 0 && _maxEnd[found] > start;
    }
}
