using BenchmarkDotNet.Attributes;
using Qed;

namespace Benchmarks.Qed;

/// <summary>
/// L2 cache behaviour (hits, and misses that read and evict) and the allocation path (4 KiB writes
/// each taking a new cluster), all in memory.
/// </summary>
[MemoryDiagnoser]
public class CacheAndAllocationBenchmarks
{
    private const int Allocations = 4096;
    private QedImage _cached = null!, _thrashing = null!, _fresh = null!;
    private readonly byte[] _block = new byte[4096];

    [GlobalSetup]
    public async Task Setup()
    {
        // 4 KiB clusters, table_size 1: each L2 table maps 2 MiB, so tables are many and small.
        _cached = await NewImageAsync(cacheBytes: 64 << 20);
        _thrashing = await NewImageAsync(cacheBytes: 1);   // two tables fit
        foreach (var image in new[] { _cached, _thrashing })
        {
            for (int t = 0; t < 8; t++) await image.WriteAsync(t * (2L << 20), _block);
            await image.FlushAsync();
        }
    }

    private static async Task<QedImage> NewImageAsync(long cacheBytes)
    {
        var file = new MemoryFile("/mem/cache.qed");
        await QedImage.CreateAsync(file, new QedCreateOptions { Size = 1L << 30, ClusterSize = 4096, TableSize = 1 });
        return await QedImage.OpenAsync(file, new QedOpenOptions { L2CacheBytes = cacheBytes });
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _cached.DisposeAsync();
        await _thrashing.DisposeAsync();
    }

    /// <summary>Eight tables read in turn, all cached.</summary>
    [Benchmark(Description = "L2 cache: 8 lookups, all hits", OperationsPerInvoke = 8)]
    public async Task CacheHits()
    {
        for (int t = 0; t < 8; t++) await _cached.FindRunAsync(t * (2L << 20), 4096);
    }

    /// <summary>The same eight tables through a cache of two: every lookup reads a table and evicts one.</summary>
    [Benchmark(Description = "L2 cache: 8 lookups, all misses", OperationsPerInvoke = 8)]
    public async Task CacheMisses()
    {
        for (int t = 0; t < 8; t++) await _thrashing.FindRunAsync(t * (2L << 20), 4096);
    }

    [IterationSetup(Target = nameof(AllocatingWrites))]
    public void FreshImage()
    {
        var file = new MemoryFile("/mem/alloc.qed");
        QedImage.CreateAsync(file, new QedCreateOptions { Size = 1L << 30 }).GetAwaiter().GetResult();
        _fresh = QedImage.OpenAsync(file).GetAwaiter().GetResult();
        _fresh.WriteAsync(0, _block).GetAwaiter().GetResult();   // need-check bit and first L2 table
    }

    [IterationCleanup(Target = nameof(AllocatingWrites))]
    public void CloseFresh() => _fresh.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>4 KiB writes 64 KiB apart on a fresh image: each allocates a cluster.</summary>
    [Benchmark(Description = "allocating 4 KiB write", OperationsPerInvoke = Allocations)]
    public async Task AllocatingWrites()
    {
        for (int i = 1; i <= Allocations; i++) await _fresh.WriteAsync(i * 65536L, _block);
    }
}
