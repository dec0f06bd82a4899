namespace Qed;

/// <summary>
/// A snapshot of an image's always-on counters. Write amplification is
/// <see cref="HostBytesWritten"/> / <see cref="GuestBytesWritten"/>.
/// </summary>
public readonly record struct QedStatistics
{
    public long GuestReads { get; init; }
    public long GuestWrites { get; init; }
    public long GuestBytesRead { get; init; }
    public long GuestBytesWritten { get; init; }
    /// <summary>Requests (or parts of requests) that had to allocate clusters.</summary>
    public long AllocatingWrites { get; init; }
    public long ClustersAllocated { get; init; }
    /// <summary>Bytes copied from the backing file into new clusters (copy-on-write).</summary>
    public long CopyOnWriteBytes { get; init; }
    public long L2CacheHits { get; init; }
    public long L2CacheMisses { get; init; }
    public long L1Writes { get; init; }
    public long L2Writes { get; init; }
    public long HeaderWrites { get; init; }
    public long Flushes { get; init; }
    public long NeedCheckSets { get; init; }
    public long NeedCheckClears { get; init; }
    public long HostReads { get; init; }
    public long HostBytesRead { get; init; }
    public long HostWrites { get; init; }
    public long HostBytesWritten { get; init; }

    public double WriteAmplification => GuestBytesWritten == 0 ? 0 : (double)HostBytesWritten / GuestBytesWritten;
}

/// <summary>What the engine counts (indexes into <see cref="QedCounters"/>).</summary>
internal enum Counter
{
    GuestReads, GuestWrites, GuestBytesRead, GuestBytesWritten,
    AllocatingWrites, ClustersAllocated, CopyOnWriteBytes,
    L2CacheHits, L2CacheMisses, L1Writes, L2Writes, HeaderWrites, Flushes,
    NeedCheckSets, NeedCheckClears,
    HostReads, HostBytesRead, HostWrites, HostBytesWritten,
    Count,
}

/// <summary>
/// The live counters behind <see cref="QedStatistics"/>. Striped by processor so that requests
/// completing on different cores do not fight over one cache line; a snapshot sums the stripes.
/// </summary>
internal sealed class QedCounters
{
    private const int Stride = 32;   // longs per stripe: 19 counters padded to 256 bytes
    private readonly long[] _stripes;
    private readonly int _mask;

    public QedCounters()
    {
        int stripes = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, Environment.ProcessorCount));
        _mask = stripes - 1;
        _stripes = new long[(stripes + 1) * Stride];   // stripe 0 starts one stride in, away from the array header
    }

    private ref long Slot(Counter c) =>
        ref _stripes[((Thread.GetCurrentProcessorId() & _mask) + 1) * Stride + (int)c];

    public void Increment(Counter c) => Interlocked.Increment(ref Slot(c));

    public void Add(Counter c, long value) => Interlocked.Add(ref Slot(c), value);

    private long Sum(Counter c)
    {
        long total = 0;
        for (int s = 1; s <= _mask + 1; s++) total += Volatile.Read(ref _stripes[s * Stride + (int)c]);
        return total;
    }

    public QedStatistics Snapshot() => new()
    {
        GuestReads = Sum(Counter.GuestReads),
        GuestWrites = Sum(Counter.GuestWrites),
        GuestBytesRead = Sum(Counter.GuestBytesRead),
        GuestBytesWritten = Sum(Counter.GuestBytesWritten),
        AllocatingWrites = Sum(Counter.AllocatingWrites),
        ClustersAllocated = Sum(Counter.ClustersAllocated),
        CopyOnWriteBytes = Sum(Counter.CopyOnWriteBytes),
        L2CacheHits = Sum(Counter.L2CacheHits),
        L2CacheMisses = Sum(Counter.L2CacheMisses),
        L1Writes = Sum(Counter.L1Writes),
        L2Writes = Sum(Counter.L2Writes),
        HeaderWrites = Sum(Counter.HeaderWrites),
        Flushes = Sum(Counter.Flushes),
        NeedCheckSets = Sum(Counter.NeedCheckSets),
        NeedCheckClears = Sum(Counter.NeedCheckClears),
        HostReads = Sum(Counter.HostReads),
        HostBytesRead = Sum(Counter.HostBytesRead),
        HostWrites = Sum(Counter.HostWrites),
        HostBytesWritten = Sum(Counter.HostBytesWritten),
    };
}
