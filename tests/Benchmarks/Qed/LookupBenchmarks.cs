using BenchmarkDotNet.Attributes;
using Qed;

namespace Benchmarks.Qed;

/// <summary>
/// Cluster lookup and whole requests on a cached table: the per-request work of the engine, without
/// host I/O (the image lives in memory). Allocated runs are contiguous, so a 1 MiB read is one lookup.
/// </summary>
[MemoryDiagnoser]
public class LookupBenchmarks
{
    private QedImage _image = null!;
    private readonly byte[] _buffer4k = new byte[4096];
    private readonly byte[] _buffer1m = new byte[1 << 20];

    [GlobalSetup]
    public async Task Setup()
    {
        var file = new MemoryFile("/mem/bench.qed");
        await QedImage.CreateAsync(file, new QedCreateOptions { Size = 1L << 30 });
        _image = await QedImage.OpenAsync(file);
        await _image.WriteAsync(0, new byte[8 << 20]);     // 128 contiguous allocated clusters
        await _image.FlushAsync();
    }

    [GlobalCleanup]
    public async Task Cleanup() => await _image.DisposeAsync();

    [Benchmark(Description = "lookup: allocated 4 KiB")]
    public long LookupAllocated() => _image.FindRunAsync(1 << 20, 4096).Result.HostOffset;

    [Benchmark(Description = "lookup: unallocated 4 KiB")]
    public long LookupUnallocated() => _image.FindRunAsync(100 << 20, 4096).Result.Length;

    [Benchmark(Description = "lookup: 8 MiB allocated run")]
    public long LookupLongRun() => _image.FindRunAsync(0, 8 << 20).Result.Length;

    [Benchmark(Description = "read 4 KiB allocated")]
    public ValueTask Read4k() => _image.ReadAsync(1 << 20, _buffer4k);

    [Benchmark(Description = "read 1 MiB allocated")]
    public ValueTask Read1m() => _image.ReadAsync(2 << 20, _buffer1m);

    [Benchmark(Description = "read 4 KiB unallocated")]
    public ValueTask ReadUnallocated() => _image.ReadAsync(100 << 20, _buffer4k);

    [Benchmark(Description = "rewrite 4 KiB in place")]
    public ValueTask Rewrite4k() => _image.WriteAsync(3 << 20, _buffer4k);
}
