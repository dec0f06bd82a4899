using BenchmarkDotNet.Attributes;
using Qed;

namespace Benchmarks.Qed;

/// <summary>Parsing and validating the 64-byte QED header (done once per open).</summary>
[MemoryDiagnoser]
public class HeaderBenchmarks
{
    private readonly byte[] _bytes = new byte[64];

    [GlobalSetup]
    public void Setup() => new QedHeader
    {
        MagicValue = QedHeader.Magic, ClusterSize = 65536, TableSize = 4, HeaderSize = 1,
        L1TableOffset = 65536, ImageSize = 64UL << 30,
    }.WriteTo(_bytes);

    [Benchmark]
    public QedHeader ParseAndValidate()
    {
        var h = QedHeader.Parse(_bytes);
        h.Validate(5 * 65536);
        return h;
    }
}
