using System.Buffers.Binary;
using Qed.Tests.Support;

namespace Qed.Tests;

/// <summary>
/// A short power-cut simulation: random workloads are cut at random points of their I/O, including in
/// the middle of a flush or a table write-back, keeping any subset of the writes issued since the last
/// completed host flush (torn at 512 bytes) and of the length changes. The promise: no table entry
/// points past the end of the file or at metadata even before repair; the image opens (repairing
/// itself if the need-check bit is set), checks without corruption, every write acknowledged before a
/// completed guest flush reads back, and no sector holds bytes that were never written there.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class PowerCutTests
{
    private const int Sector = 512;

    /// <summary>Sector content naming the write (version) and the guest sector it was written to.</summary>
    private static void Stamp(Span<byte> sector, long version, long guestSector)
    {
        BinaryPrimitives.WriteInt64LittleEndian(sector, version);
        BinaryPrimitives.WriteInt64LittleEndian(sector[8..], guestSector);
        sector[16..].Fill((byte)(version * 31 + guestSector));
    }

    private static bool IsStamp(ReadOnlySpan<byte> sector, out long version, long guestSector)
    {
        version = BinaryPrimitives.ReadInt64LittleEndian(sector);
        if (BinaryPrimitives.ReadInt64LittleEndian(sector[8..]) != guestSector) return false;
        return sector[16..].IndexOfAnyExcept((byte)(version * 31 + guestSector)) < 0;
    }

    /// <summary>Per guest sector: the versions written, in order, and how many were covered by a completed flush.</summary>
    private sealed class History(int sectors)
    {
        public readonly List<long>[] Versions = Enumerable.Range(0, sectors).Select(_ => new List<long>()).ToArray();
        /// <summary>Per completed guest flush: the log length when it completed, and per sector how many versions it covered.</summary>
        public readonly List<(int LogIndex, int[] Counts)> Flushes = new();

        public void Flush(int logIndex) =>
            Flushes.Add((logIndex, Versions.Select(v => v.Count).ToArray()));

        /// <summary>Versions of each sector acknowledged before the last guest flush that completed before the cut.</summary>
        public int[] FlushedAt(int cut) =>
            Flushes.LastOrDefault(f => f.LogIndex <= cut).Counts ?? new int[Versions.Length];
    }

    private const long ZeroVersionBit = 1L << 62;   // write-zeroes: the sector reads as zeros

    [TestCase(4096u, 1u, false, 100)]
    [TestCase(65536u, 4u, false, 60)]
    [TestCase(4096u, 2u, true, 60)]
    [TestCase(16384u, 1u, true, 40)]
    public async Task CutAtRandomMoments(uint clusterSize, uint tableSize, bool withBacking, int trials)
    {
        const long size = 4 << 20;
        int sectors = (int)(size / Sector);
        byte[]? backing = null;
        if (withBacking)
        {
            backing = new byte[size - 3 * clusterSize];   // shorter than the image: its tail reads as zeros
            for (int s = 0; s < backing.Length / Sector; s++) Stamp(backing.AsSpan(s * Sector, Sector), -1, s);
        }
        for (int trial = 0; trial < trials; trial++)
        {
            int seed = (int)clusterSize * 1000 + trial * 7 + (withBacking ? 1 : 0);
            var rng = new Random(seed);
            var file = new CrashSimFile("/mem/cut.qed");
            await QedImage.CreateAsync(file, new QedCreateOptions
            {
                Size = size, ClusterSize = clusterSize, TableSize = tableSize,
                BackingFile = withBacking ? "base.raw" : null, BackingFormat = withBacking ? "raw" : null,
            });
            var opener = (Func<string, string?, CancellationToken, ValueTask<IBlockDevice>>)((_, _, _) =>
                ValueTask.FromResult<IBlockDevice>(new RawImage(new MemoryImageFile("/mem/base.raw", backing, readOnly: true), true)));
            int created = file.LogLength;   // cuts before the image exists are not interesting
            var time = new ManualTimeProvider();
            var history = new History(sectors);
            long version = 0;
            var image = await QedImage.OpenAsync(file, new QedOpenOptions { TimeProvider = time, BackingOpener = opener });
            int ops = rng.Next(1, 80);
            for (int op = 0; op < ops; op++)
            {
                int kind = rng.Next(100);
                int len = rng.Next(1, 3 * (int)clusterSize / Sector + 1);
                int first = rng.Next(0, sectors - len + 1);
                if (kind < 70)
                {
                    var data = new byte[len * Sector];
                    version++;
                    for (int s = 0; s < len; s++)
                    {
                        Stamp(data.AsSpan(s * Sector, Sector), version, first + s);
                        history.Versions[first + s].Add(version);
                    }
                    await image.WriteAsync((long)first * Sector, data);
                }
                else if (kind < 80)
                {
                    version++;
                    for (int s = 0; s < len; s++) history.Versions[first + s].Add(version | ZeroVersionBit);
                    await image.WriteZeroesAsync((long)first * Sector, (long)len * Sector);
                }
                else if (kind < 92)
                {
                    await image.FlushAsync();
                    history.Flush(file.LogLength);
                }
                else
                {
                    // Idle long enough for the need-check timer to flush and clear the bit.
                    long clears = image.Statistics.NeedCheckClears;
                    time.Advance(TimeSpan.FromSeconds(6));
                    if (image.Statistics.NeedCheckClears > clears) history.Flush(file.LogLength);   // the clear flushed first
                }
            }

            // Cut at several random points of the logged I/O (not only between requests).
            for (int c = 0; c < 4; c++)
            {
                int cut = c == 0 ? file.LogLength : rng.Next(created, file.LogLength + 1);
                await CheckCutAsync(file.CrashAt(cut, rng), history.FlushedAt(cut), history, backing, opener,
                    $"seed {seed}, {ops} operations, cut at {cut}/{file.LogLength}");
            }
            await image.DisposeAsync();
        }

    }

    private static async Task CheckCutAsync(byte[] crashed, int[] flushed, History history, byte[]? backing,
        Func<string, string?, CancellationToken, ValueTask<IBlockDevice>> opener, string what)
    {
        int sectors = history.Versions.Length;
        {
            // Before any repair: no table entry points past the end of the file or at garbage.
            await using (var raw = await QedImage.OpenAsync(new MemoryImageFile("/mem/cut.qed", crashed),
                             new QedOpenOptions { ReadOnly = true, CheckMode = true, NoBacking = true }))
            {
                var before = await raw.CheckAsync(repair: false);
                Assert.That((before.Corruptions, before.CheckErrors), Is.EqualTo((0L, 0L)), $"{what}: the cut image itself");
            }
            QedImage reopened;
            try
            {
                reopened = await QedImage.OpenAsync(new MemoryImageFile("/mem/cut.qed", crashed),
                    new QedOpenOptions { TimeProvider = new ManualTimeProvider(), BackingOpener = opener });
            }
            catch (ImageException e)
            {
                Assert.Fail($"{what}: the image did not open after the cut: {e.Message}");
                return;
            }
            await using (reopened)
            {
                var check = await reopened.CheckAsync(repair: false);
                Assert.That((check.Corruptions, check.CheckErrors), Is.EqualTo((0L, 0L)), $"{what}: check after the cut");
                var all = await Images.ReadAllAsync(reopened);
                for (int s = 0; s < sectors; s++)
                {
                    var sector = all.AsSpan(s * Sector, Sector);
                    var versions = history.Versions[s];
                    // What this sector may hold: the last flushed version or anything written after it;
                    // with nothing flushed, also what it held before (backing data or zeros).
                    int from = Math.Max(0, flushed[s] - 1);
                    bool initialAllowed = flushed[s] == 0;
                    bool ok;
                    if (sector.IndexOfAnyExcept((byte)0) < 0)
                    {
                        ok = (initialAllowed && (backing is null || s >= backing.Length / Sector))
                             || versions.Skip(from).Any(v => (v & ZeroVersionBit) != 0);
                    }
                    else if (IsStamp(sector, out long v, s))
                    {
                        ok = v == -1 ? initialAllowed && backing is not null : versions.Skip(from).Contains(v);
                    }
                    else ok = false;
                    if (!ok)
                        Assert.Fail($"{what}: sector {s} holds {(sector.IndexOfAnyExcept((byte)0) < 0 ? "zeros" : "v" + BinaryPrimitives.ReadInt64LittleEndian(sector))}; " +
                                    $"versions written {string.Join(",", versions.Select(x => (x & ZeroVersionBit) != 0 ? "z" + (x & ~ZeroVersionBit) : x.ToString()))}, flushed {flushed[s]}");
                }
            }
        }
    }
}
