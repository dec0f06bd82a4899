using Qed.Tests.Support;

namespace Qed.Tests.PowerCut;

/// <summary>
/// A random guest session on a QED image, recorded in a <see cref="GuestDiskModel"/>: batches of
/// concurrent writes and write-zeroes (never overlapping within a batch, often sharing clusters, often
/// partial clusters), flushes racing them, idle periods long enough for the need-check timer to write
/// back and clear the bit, and resizes.
/// </summary>
public sealed class GuestWorkload(QedImage image, RecordingImageFile file, GuestDiskModel model, ManualTimeProvider time, Random rng)
{
    private const int Sector = GuestDiskModel.Sector;
    private readonly int _clusterSectors = image.ClusterSize / Sector;

    public int Writes { get; private set; }
    public int Flushes { get; private set; }
    public int Idles { get; private set; }
    public int Resizes { get; private set; }

    public async Task RunAsync(int steps)
    {
        for (int step = 0; step < steps; step++)
        {
            int kind = rng.Next(100);
            if (kind < 70) await BatchAsync();
            else if (kind < 82) await FlushAsync();
            else if (kind < 94) Idle();
            else await ResizeAsync();
        }
    }

    private async Task BatchAsync()
    {
        int sectors = (int)(image.Size / Sector);
        var taken = new List<(int Start, int End)>();
        var requests = new List<Func<Task>>();
        int count = rng.Next(1, 5);
        for (int i = 0; i < count; i++)
        {
            int len = rng.Next(4) switch
            {
                0 => rng.Next(1, 9),                                     // a few sectors
                1 => _clusterSectors,                                    // one cluster
                _ => rng.Next(1, 3 * _clusterSectors + 1),               // up to three clusters
            };
            len = Math.Min(len, sectors);
            int first = rng.Next(0, sectors - len + 1);
            if (rng.Next(3) == 0) first = first / _clusterSectors * _clusterSectors;
            if (first + len > sectors) len = sectors - first;
            if (taken.Any(t => first < t.End && t.Start < first + len)) continue;
            taken.Add((first, first + len));
            if (rng.Next(100) < 15) requests.Add(() => ZeroesAsync(first, len));
            else requests.Add(() => WriteAsync(first, len));
        }
        if (rng.Next(100) < 20) requests.Insert(rng.Next(requests.Count + 1), FlushAsync);
        // Issue them all before awaiting any: they are in flight together.
        var tasks = new List<Task>();
        foreach (var r in requests) tasks.Add(r());
        await Task.WhenAll(tasks);
    }

    private async Task WriteAsync(int first, int len)
    {
        var data = new byte[len * Sector];
        var version = model.BeginWrite(first, len, data, file.LogLength);
        Writes++;
        await image.WriteAsync((long)first * Sector, data);
        model.Complete(version);
    }

    private async Task ZeroesAsync(int first, int len)
    {
        var version = model.BeginZeroes(first, len, file.LogLength);
        Writes++;
        await image.WriteZeroesAsync((long)first * Sector, (long)len * Sector);
        model.Complete(version);
    }

    public async Task FlushAsync()
    {
        var flush = model.BeginFlush();
        Flushes++;
        await image.FlushAsync();
        model.FlushCompleted(flush, file.LogLength);
    }

    /// <summary>Idle longer than the need-check delay: the timer writes back, flushes and clears the bit.</summary>
    private void Idle()
    {
        Idles++;
        time.Advance(TimeSpan.FromSeconds(6));
    }

    private async Task ResizeAsync()
    {
        int sectors = (int)(image.Size / Sector);
        if (sectors >= model.Capacity) return;
        int grown = Math.Min(model.Capacity, sectors + rng.Next(1, 4 * _clusterSectors));
        int issued = file.LogLength;
        Resizes++;
        await image.ResizeAsync((long)grown * Sector);
        model.Resize(grown, issued, file.LogLength);
    }
}
