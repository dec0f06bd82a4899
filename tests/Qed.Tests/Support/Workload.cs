namespace Qed.Tests.Support;

/// <summary>
/// A random guest workload applied to an image and to an in-memory model of what the guest must see.
/// Each batch runs its requests concurrently; requests in one batch never overlap byte-wise (they may
/// share clusters, which is the interesting case for allocation), so the model stays exact.
/// </summary>
public sealed class Workload
{
    private readonly Random _rng;
    private readonly int _clusterSize;
    private byte[] _model;

    public Workload(int seed, int clusterSize, byte[] initialContent)
    {
        _rng = new Random(seed);
        _clusterSize = clusterSize;
        _model = initialContent;
    }

    public byte[] Model => _model;
    /// <summary>Percent of write requests that are write-zeroes.</summary>
    public int ZeroPercent { get; init; } = 15;
    /// <summary>Largest write in clusters.</summary>
    public int MaxClusters { get; init; } = 3;

    public async Task RunAsync(IBlockDevice device, int batches, int perBatch)
    {
        for (int b = 0; b < batches; b++)
        {
            var taken = new List<(long Start, long End)>();
            var tasks = new List<Task>();
            for (int i = 0; i < perBatch; i++)
            {
                long len = _rng.Next(1, MaxClusters * _clusterSize + 1);
                if (_rng.Next(4) == 0) len = _rng.Next(1, 9) * 512L;
                len = Math.Min(len, _model.Length);
                long off = _rng.NextInt64(0, _model.Length - len + 1);
                if (_rng.Next(3) == 0) off = off / _clusterSize * _clusterSize;   // often cluster-aligned
                if (off + len > _model.Length) len = _model.Length - off;
                if (taken.Any(t => off < t.End && t.Start < off + len)) continue;
                taken.Add((off, off + len));
                if (_rng.Next(100) < ZeroPercent)
                {
                    Array.Clear(_model, (int)off, (int)len);
                    tasks.Add(device.WriteZeroesAsync(off, len).AsTask());
                }
                else
                {
                    var data = new byte[len];
                    _rng.NextBytes(data);
                    data.CopyTo(_model, off);
                    tasks.Add(device.WriteAsync(off, data).AsTask());
                }
            }
            if (_rng.Next(8) == 0) tasks.Add(device.FlushAsync().AsTask());
            await Task.WhenAll(tasks);
        }
    }

    /// <summary>Grows the model as the disk grows: the new area shows <paramref name="backing"/> (or zeros).</summary>
    public void Grow(long newSize, byte[]? backing)
    {
        var grown = new byte[newSize];
        _model.CopyTo(grown, 0);
        if (backing is not null && backing.Length > _model.Length)
            backing.AsSpan(_model.Length, (int)Math.Min(backing.Length, newSize) - _model.Length).CopyTo(grown.AsSpan(_model.Length));
        _model = grown;
    }

    public void SaveModel(string rawPath) => File.WriteAllBytes(rawPath, _model);
}
