using System.Buffers.Binary;
using Qed.Tests.Support;
using static Qed.Tests.Support.Peers;

namespace Qed.Tests;

/// <summary>Unit tests of the engine's own behaviour, mostly in memory.</summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class EngineTests
{
    private static async Task<(QedImage Image, MemoryImageFile File)> NewImageAsync(long size = 64 << 20, uint cluster = 65536, uint table = 4,
        ManualTimeProvider? time = null, string? backingName = null, IBlockDevice? backing = null, long cacheBytes = 64 << 20)
    {
        var file = new MemoryImageFile("/mem/test.qed");
        await QedImage.CreateAsync(file, new QedCreateOptions
        {
            Size = size, ClusterSize = cluster, TableSize = table,
            BackingFile = backingName, BackingFormat = backingName is null ? null : "raw",
        });
        var image = await QedImage.OpenAsync(file, new QedOpenOptions
        {
            TimeProvider = time ?? TimeProvider.System,
            BackingOpener = (_, _, _) => ValueTask.FromResult(backing!),
            L2CacheBytes = cacheBytes,
        });
        return (image, file);
    }

    private static RawImage MemoryRaw(byte[] content) => new(new MemoryImageFile("/mem/base.raw", content, readOnly: true), readOnly: true);

    [Test]
    public void HeaderRoundTripsEveryField()
    {
        var h = new QedHeader
        {
            MagicValue = QedHeader.Magic, ClusterSize = 4096, TableSize = 8, HeaderSize = 2,
            Features = QedFeatures.BackingFile | QedFeatures.BackingFormatNoProbe, CompatFeatures = 0x1122334455667788,
            AutoclearFeatures = 0x99, L1TableOffset = 8192, ImageSize = 1 << 30, BackingFilenameOffset = 64, BackingFilenameSize = 9,
        };
        var bytes = new byte[64];
        h.WriteTo(bytes);
        Assert.That(bytes[..4], Is.EqualTo("QED\0"u8.ToArray()));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(40)), Is.EqualTo(8192));
        Assert.That(QedHeader.Parse(bytes), Is.EqualTo(h));
    }

    [Test]
    public void MaximumImageSizeFollowsTheGeometryAndQemusWraparound()
    {
        // (table_size * cluster_size / 8)^2 * cluster_size
        Assert.That(QedHeader.MaxImageSize(65536, 4), Is.EqualTo(1UL << 46));
        Assert.That(QedHeader.MaxImageSize(4096, 4), Is.EqualTo(16UL << 30));
        Assert.That(QedHeader.QemuMaxImageSize(64u << 20, 4), Is.EqualTo(0), "QEMU's 64-bit product wraps to 0 here");
        Assert.That(QedHeader.MaxImageSize(64u << 20, 4), Is.EqualTo((ulong)long.MaxValue));
    }

    [Test]
    public async Task TableSizeOneImagesOpenAndWork()
    {
        var (image, _) = await NewImageAsync(size: 8 << 20, cluster: 4096, table: 1);
        await using (image)
        {
            var data = new byte[10000];
            new Random(1).NextBytes(data);
            await image.WriteAsync(3 << 20, data);
            var back = new byte[data.Length];
            await image.ReadAsync(3 << 20, back);
            Assert.That(back, Is.EqualTo(data));
        }
    }

    /// <summary>
    /// A partial write into a zero cluster over a backing file: the rest of the cluster must stay zeros.
    /// QEMU copies the backing data in (its copy-on-write does not look at the old entry), so the zeroed
    /// range shows backing data again; this shows QEMU doing that and this engine not.
    /// </summary>
    [Test]
    public async Task PartialWriteIntoAZeroClusterKeepsItsZeros()
    {
        using var dir = new TestDir();
        var baseData = new byte[1 << 20];
        Array.Fill(baseData, (byte)0x55);
        File.WriteAllBytes(dir["base.raw"], baseData);
        foreach (var name in new[] { "qemu.qed", "here.qed" })
            QemuImgOk("create", "-f", "qed", "-b", "base.raw", "-F", "raw", dir[name], "1M");

        QemuIoOk("-c", "write -z 0 64k", "-c", "write -P 0x11 4k 4k", dir["qemu.qed"]);
        var qemuView = Images.QemuReadAll(dir["qemu.qed"], dir.Path);
        Assert.That(qemuView[0], Is.EqualTo(0x55), "QEMU 7.2 was expected to bring the backing data back (its bug)");

        await using (var image = await QedImage.OpenAsync(dir["here.qed"]))
        {
            await image.WriteZeroesAsync(0, 65536);
            await image.WriteAsync(4096, Enumerable.Repeat((byte)0x11, 4096).ToArray());
        }
        var ours = await Images.ReadAllAsync(dir["here.qed"]);
        var expected = (byte[])baseData.Clone();
        Array.Clear(expected, 0, 65536);
        Array.Fill(expected, (byte)0x11, 4096, 4096);
        Images.AssertSameBytes(expected, ours, "zero cluster after a partial write");
        Images.AssertSameBytes(expected, Images.QemuReadAll(dir["here.qed"], dir.Path), "as QEMU reads our image");
    }

    [Test]
    public async Task AllocatingWritesWriteOnlyTheGuestBytes()
    {
        var (image, _) = await NewImageAsync();
        await using (image)
        {
            var block = new byte[4096];
            await image.WriteAsync(0, block);          // first write also creates the L2 table
            var before = image.Statistics;
            for (int i = 1; i <= 100; i++) await image.WriteAsync(i * 65536L, block);
            var after = image.Statistics;
            long written = after.HostBytesWritten - before.HostBytesWritten;
            Assert.That(after.ClustersAllocated - before.ClustersAllocated, Is.EqualTo(100));
            // 4 KiB of data and at most one 512-byte L2 sector per allocation; QEMU writes 64 KiB clusters.
            Assert.That(written, Is.LessThanOrEqualTo(100 * (4096 + 512)));
            Assert.That((double)written / (100 * 4096), Is.LessThan(1.13), "write amplification of these allocations");
        }
    }

    [Test]
    public async Task ConcurrentWritesIntoTheSameNewClusterAllLand()
    {
        var (image, _) = await NewImageAsync(cluster: 65536);
        await using (image)
        {
            var model = new byte[1 << 20];
            var rng = new Random(5);
            var tasks = new List<Task>();
            for (int i = 0; i < 64; i++)
            {
                // 64 writes of 1 KiB into the same four fresh clusters, all in flight together.
                long off = (i % 4) * 65536L + (i / 4) * 1024L;
                var data = new byte[1024];
                rng.NextBytes(data);
                data.CopyTo(model, off);
                tasks.Add(image.WriteAsync(off, data).AsTask());
            }
            await Task.WhenAll(tasks);
            var back = new byte[model.Length];
            await image.ReadAsync(0, back);
            Images.AssertSameBytes(model, back, "concurrent writes");
            Assert.That(image.Statistics.ClustersAllocated, Is.EqualTo(4), "each cluster allocated once");
            var check = await image.CheckAsync(repair: false);
            Assert.That((check.Corruptions, check.Leaks), Is.EqualTo((0L, 0L)));
        }
    }

    [Test]
    public async Task ManyRequestsInFlightWithASmallL2Cache()
    {
        // Two cached tables for a disk of 32 tables: lookups miss and evict all the time.
        var (image, _) = await NewImageAsync(size: 64 << 20, cluster: 4096, table: 1, cacheBytes: 1);
        await using (image)
        {
            var work = new Workload(9, 4096, new byte[64 << 20]) { MaxClusters = 8 };
            await work.RunAsync(image, batches: 30, perBatch: 32);
            Images.AssertSameBytes(work.Model, await Images.ReadAllAsync(image), "small cache");
            Assert.That(image.Statistics.L2CacheMisses, Is.GreaterThan(32));
            var check = await image.CheckAsync(repair: false);
            Assert.That((check.Corruptions, check.Leaks), Is.EqualTo((0L, 0L)));
        }
    }

    [Test]
    public async Task NeedCheckBitIsSetBeforeTheFirstAllocationAndClearedWhenIdle()
    {
        var time = new ManualTimeProvider();
        var (image, file) = await NewImageAsync(time: time);
        await using (image)
        {
            static QedFeatures OnDisk(MemoryImageFile f) => QedHeader.Parse(f.ToArray()).Features;
            Assert.That(OnDisk(file) & QedFeatures.NeedCheck, Is.EqualTo(QedFeatures.None));
            await image.WriteAsync(0, new byte[512]);
            Assert.That(OnDisk(file) & QedFeatures.NeedCheck, Is.EqualTo(QedFeatures.NeedCheck), "set before the allocation");
            Assert.That(image.Statistics.NeedCheckSets, Is.EqualTo(1));

            time.Advance(TimeSpan.FromSeconds(4));
            Assert.That(image.IsDirty, Is.True, "not yet idle for 5 s");
            await image.WriteAsync(65536, new byte[512]);     // another allocation restarts the wait
            time.Advance(TimeSpan.FromSeconds(4));
            Assert.That(image.IsDirty, Is.True);
            int flushesBefore = file.Flushes;
            time.Advance(TimeSpan.FromSeconds(2));
            await WaitUntilAsync(() => !image.IsDirty);
            Assert.That(OnDisk(file) & QedFeatures.NeedCheck, Is.EqualTo(QedFeatures.None), "cleared on disk");
            Assert.That(file.Flushes - flushesBefore, Is.GreaterThanOrEqualTo(2), "flush before and after clearing");
            Assert.That(image.Statistics.NeedCheckClears, Is.EqualTo(1));

            await image.WriteAsync(0, new byte[512]);           // in-place: no allocation, stays clean
            Assert.That(image.IsDirty, Is.False);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++) await Task.Delay(10);
        Assert.That(condition(), Is.True, "condition not reached in 5 s");
    }

    [Test]
    public async Task ImagesWithABackingFileNeverSetTheNeedCheckBit()
    {
        var baseData = new byte[4 << 20];
        new Random(3).NextBytes(baseData);
        var (image, file) = await NewImageAsync(size: 4 << 20, backingName: "base.raw", backing: MemoryRaw(baseData));
        await using (image)
        {
            int flushes = file.Flushes;
            await image.WriteAsync(100, new byte[1000]);
            await image.WriteAsync(3 << 20, new byte[70000]);
            Assert.That(image.IsDirty, Is.False);
            Assert.That(file.Flushes - flushes, Is.GreaterThanOrEqualTo(2), "data is flushed before the table update that exposes it");
            var back = new byte[4 << 20];
            await image.ReadAsync(0, back);
            var expected = (byte[])baseData.Clone();
            Array.Clear(expected, 100, 1000);
            Array.Clear(expected, 3 << 20, 70000);
            Images.AssertSameBytes(expected, back, "copy-on-write from the backing file");
        }
    }

    [Test]
    public async Task WriteZeroesMakesZeroClustersOverABackingFile()
    {
        var baseData = Enumerable.Repeat((byte)0x77, 4 << 20).ToArray();
        var (image, _) = await NewImageAsync(size: 4 << 20, backingName: "base.raw", backing: MemoryRaw(baseData));
        await using (image)
        {
            await image.WriteAsync(1 << 20, Enumerable.Repeat((byte)1, 65536).ToArray());
            long allocated = image.Statistics.ClustersAllocated;
            await image.WriteZeroesAsync(1000, (3 << 20) - 1000);   // partial head, whole clusters, an allocated one
            Assert.That(image.Statistics.ClustersAllocated - allocated, Is.EqualTo(1), "only the partial head cluster is allocated");
            var st = await image.GetBlockStatusAsync(2 << 20, 65536);
            Assert.That(st.Kind, Is.EqualTo(BlockStatusKind.Zero));
            var back = new byte[4 << 20];
            await image.ReadAsync(0, back);
            Assert.That(back.AsSpan(0, 1000).IndexOfAnyExcept((byte)0x77), Is.EqualTo(-1));
            Assert.That(back.AsSpan(1000, (3 << 20) - 1000).IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
            Assert.That(back.AsSpan(3 << 20).IndexOfAnyExcept((byte)0x77), Is.EqualTo(-1));
            await image.DiscardAsync(0, 4 << 20);                  // accepted, changes nothing
            var again = new byte[4 << 20];
            await image.ReadAsync(0, again);
            Assert.That(again, Is.EqualTo(back));
        }
    }

    [Test]
    public async Task RequestsOutsideTheDiskOrOnReadOnlyImagesFail()
    {
        var (image, file) = await NewImageAsync(size: 1 << 20);
        await image.DisposeAsync();
        await using var ro = await QedImage.OpenAsync(file, new QedOpenOptions { ReadOnly = true });
        Assert.ThrowsAsync<BlockIOException>(async () => await ro.WriteAsync(0, new byte[512]));
        Assert.ThrowsAsync<BlockIOException>(async () => await ro.WriteZeroesAsync(0, 512));
        Assert.ThrowsAsync<BlockIOException>(async () => await ro.ReadAsync((1 << 20) - 100, new byte[512]));
        Assert.ThrowsAsync<BlockIOException>(async () => await ro.ReadAsync(-1, new byte[1]));
    }

    [Test]
    public async Task UnallocatedReadsFromACachedTableCompleteSynchronously()
    {
        var (image, _) = await NewImageAsync();
        await using (image)
        {
            await image.WriteAsync(0, new byte[512]);   // L2 table now cached
            var pending = image.ReadAsync(1 << 20, new byte[4096]);
            Assert.That(pending.IsCompletedSuccessfully, Is.True, "done now: no host I/O was needed");
        }
    }

    /// <summary>
    /// The caller chooses where completions run: the engine never captures the caller's context, so a
    /// request completes even while that context is blocked, and the caller's own await resumes on it.
    /// </summary>
    [Test]
    public async Task CompletionsDoNotNeedTheCallersContext()
    {
        using var dir = new TestDir();
        await QedImage.CreateAsync(dir["c.qed"], new QedCreateOptions { Size = 8 << 20 });
        await using var image = await QedImage.OpenAsync(dir["c.qed"]);
        var loop = new SingleThreadContext();
        bool completedWhileBlocked = false;
        int continuationThread = -1;
        loop.Run(() =>
        {
            // Block the loop thread until the write completes: capturing the context would deadlock.
            var t = image.WriteAsync(12345, new byte[70000]).AsTask();
            completedWhileBlocked = t.Wait(TimeSpan.FromSeconds(10));
            _ = ContinueAsync();
        });
        async Task ContinueAsync()
        {
            await image.ReadAsync(0, new byte[100000]);
            continuationThread = Environment.CurrentManagedThreadId;
        }
        await loop.DrainAsync();
        Assert.That(completedWhileBlocked, Is.True);
        Assert.That(continuationThread, Is.EqualTo(loop.ThreadId), "the caller's await resumed on its own loop");
    }

    private sealed class SingleThreadContext : SynchronizationContext
    {
        private readonly System.Collections.Concurrent.BlockingCollection<(SendOrPostCallback, object?)> _queue = new();
        private readonly Thread _thread;
        private int _pending;

        public SingleThreadContext()
        {
            _thread = new Thread(() =>
            {
                SetSynchronizationContext(this);
                foreach (var (cb, state) in _queue.GetConsumingEnumerable())
                {
                    cb(state);
                    Interlocked.Decrement(ref _pending);
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public int ThreadId => _thread.ManagedThreadId;

        public override void Post(SendOrPostCallback d, object? state)
        {
            Interlocked.Increment(ref _pending);
            _queue.Add((d, state));
        }

        public void Run(Action action) => Post(_ => action(), null);

        public async Task DrainAsync()
        {
            for (int i = 0; i < 1000 && Volatile.Read(ref _pending) > 0; i++) await Task.Delay(10);
            await Task.Delay(50);
            for (int i = 0; i < 1000 && Volatile.Read(ref _pending) > 0; i++) await Task.Delay(10);
        }
    }

    [Test]
    public async Task UnknownAutoclearBitsAreClearedAndCompatBitsKept()
    {
        var file = new MemoryImageFile("/mem/f.qed");
        await QedImage.CreateAsync(file, new QedCreateOptions { Size = 1 << 20 });
        var bytes = file.ToArray();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), 0x40);     // compat
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(32), 0x8000);   // autoclear
        var patched = new MemoryImageFile("/mem/f.qed", bytes);
        await using (var ro = await QedImage.OpenAsync(patched, new QedOpenOptions { ReadOnly = true }))
            Assert.That(QedHeader.Parse(patched.ToArray()).AutoclearFeatures, Is.EqualTo(0x8000), "read-only opens leave them");
        await using (var rw = await QedImage.OpenAsync(patched))
        {
            var h = QedHeader.Parse(patched.ToArray());
            Assert.That(h.AutoclearFeatures, Is.EqualTo(0));
            Assert.That(h.CompatFeatures, Is.EqualTo(0x40));
        }
    }

    [Test]
    public async Task RepairGivesBackLeakedClustersAtTheEnd()
    {
        var (image, file) = await NewImageAsync(size: 4 << 20);
        await image.WriteAsync(0, new byte[65536]);
        await image.DisposeAsync();
        long length = file.GetLength();
        await file.SetLengthAsync(length + 3 * 65536);
        await using var again = await QedImage.OpenAsync(file);
        var result = await again.CheckAsync(repair: true);
        Assert.That((result.LeaksFixed, result.Leaks, result.Corruptions), Is.EqualTo((3L, 0L, 0L)));
        Assert.That(file.GetLength(), Is.EqualTo(length));
    }

    [Test]
    public async Task BackingChainLoopsAreRefused()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "qed", dir["a.qed"], "1M");
        QemuImgOk("create", "-f", "qed", "-u", "-b", "b.qed", "-F", "qed", dir["c.qed"], "1M");
        QemuImgOk("create", "-f", "qed", "-u", "-b", "c.qed", "-F", "qed", dir["b.qed"], "1M");
        var e = Assert.ThrowsAsync<ImageFormatException>(() => ImageOpener.OpenAsync(dir["b.qed"], null, new QedOpenOptions { ReadOnly = true }));
        Assert.That(e!.Message, Does.Contain("loops"));
    }

    [Test]
    public async Task DeepChainsOpenAndRead()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "raw", dir["l0.img"], "1M");
        QemuIoOk("-f", "raw", "-c", "write -P 1 0 1M", dir["l0.img"]);
        for (int i = 1; i <= 40; i++)
        {
            await QedImage.CreateAsync(dir[$"l{i}.img"], new QedCreateOptions
            {
                Size = 1 << 20, ClusterSize = 4096, BackingFile = $"l{i - 1}.img", BackingFormat = i == 1 ? "raw" : "qed",
            });
            await using var img = await QedImage.OpenAsync(dir[$"l{i}.img"]);
            await img.WriteAsync(i * 4096, new byte[] { (byte)(i + 1) });
        }
        var all = await Images.ReadAllAsync(dir["l40.img"]);
        Images.AssertSameBytes(Images.QemuReadAll(dir["l40.img"], dir.Path), all, "40-deep chain");
        for (int i = 1; i <= 40; i++) Assert.That(all[i * 4096], Is.EqualTo(i + 1));
    }

    private sealed class FaultyFile(string path) : MemoryImageFile(path)
    {
        public bool Fail;

        public override ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            Fail ? ValueTask.FromException(new BlockIOException("simulated write error")) : base.WriteAsync(offset, buffer, cancellationToken);

        public override ValueTask FlushAsync(CancellationToken cancellationToken = default) =>
            Fail ? ValueTask.FromException(new BlockIOException("simulated flush error")) : base.FlushAsync(cancellationToken);

        public override ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Fail ? ValueTask.FromException<int>(new BlockIOException("simulated read error")) : base.ReadAsync(offset, buffer, cancellationToken);
    }

    /// <summary>
    /// Host I/O errors reach the caller as BlockIOException (a guest-visible error), and a table update
    /// that could not be written is retried by the next flush instead of being lost.
    /// </summary>
    [Test]
    public async Task HostErrorsAreReportedAndTableUpdatesRetried()
    {
        var file = new FaultyFile("/mem/faulty.qed");
        await QedImage.CreateAsync(file, new QedCreateOptions { Size = 8 << 20, ClusterSize = 4096 });
        var image = await QedImage.OpenAsync(file, new QedOpenOptions { TimeProvider = new ManualTimeProvider() });
        var data = new byte[20000];
        new Random(8).NextBytes(data);
        await image.WriteAsync(1 << 20, data);           // allocates; its table update is deferred
        await image.WriteAsync(5 << 20, data);

        file.Fail = true;
        Assert.ThrowsAsync<BlockIOException>(async () => await image.FlushAsync());
        Assert.ThrowsAsync<BlockIOException>(async () => await image.WriteAsync(7 << 20, data));
        Assert.ThrowsAsync<BlockIOException>(async () => await image.ReadAsync(1 << 20, new byte[100]));
        file.Fail = false;

        await image.FlushAsync();                       // retries the table update
        var copy = new MemoryImageFile("/mem/copy.qed", file.ToArray());
        await using (var reopened = await QedImage.OpenAsync(copy, new QedOpenOptions { ReadOnly = true }))
        {
            var back = new byte[data.Length];
            await reopened.ReadAsync(1 << 20, back);
            Assert.That(back, Is.EqualTo(data), "the first write survived the failed flush");
            await reopened.ReadAsync(5 << 20, back);
            Assert.That(back, Is.EqualTo(data));
        }
        await image.DisposeAsync();
    }
}
