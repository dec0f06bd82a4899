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

/// <summary>The live counters behind <see cref="QedStatistics"/>: plain fields bumped with Interlocked.</summary>
internal sealed class QedCounters
{
    public long GuestReads, GuestWrites, GuestBytesRead, GuestBytesWritten;
    public long AllocatingWrites, ClustersAllocated, CopyOnWriteBytes;
    public long L2CacheHits, L2CacheMisses, L1Writes, L2Writes, HeaderWrites, Flushes;
    public long NeedCheckSets, NeedCheckClears;
    public long HostReads, HostBytesRead, HostWrites, HostBytesWritten;

    public QedStatistics Snapshot() => new()
    {
        GuestReads = Volatile.Read(ref GuestReads),
        GuestWrites = Volatile.Read(ref GuestWrites),
        GuestBytesRead = Volatile.Read(ref GuestBytesRead),
        GuestBytesWritten = Volatile.Read(ref GuestBytesWritten),
        AllocatingWrites = Volatile.Read(ref AllocatingWrites),
        ClustersAllocated = Volatile.Read(ref ClustersAllocated),
        CopyOnWriteBytes = Volatile.Read(ref CopyOnWriteBytes),
        L2CacheHits = Volatile.Read(ref L2CacheHits),
        L2CacheMisses = Volatile.Read(ref L2CacheMisses),
        L1Writes = Volatile.Read(ref L1Writes),
        L2Writes = Volatile.Read(ref L2Writes),
        HeaderWrites = Volatile.Read(ref HeaderWrites),
        Flushes = Volatile.Read(ref Flushes),
        NeedCheckSets = Volatile.Read(ref NeedCheckSets),
        NeedCheckClears = Volatile.Read(ref NeedCheckClears),
        HostReads = Volatile.Read(ref HostReads),
        HostBytesRead = Volatile.Read(ref HostBytesRead),
        HostWrites = Volatile.Read(ref HostWrites),
        HostBytesWritten = Volatile.Read(ref HostBytesWritten),
    };
}
