using System.Diagnostics;
using Qed.Storage;
using Qed.Tests.Support;

namespace Qed.Tests.PowerCut;

/// <summary>How much of the simulation to run, and how often to ask qemu-img.</summary>
public sealed record PowerCutOptions
{
    /// <summary>Cut points per scenario besides the end of its log (0: every position of the log).</summary>
    public int CutsPerScenario { get; init; } = 4;
    /// <summary>Materialisations (random subsets of the unflushed operations) per cut point.</summary>
    public int SubsetsPerCut { get; init; } = 1;
    /// <summary>Run qemu-img check on one cut image in this many (0: never; 1: every one).</summary>
    public int QemuCheckEvery { get; init; } = 8;
    /// <summary>Guest operations in the first session.</summary>
    public int Steps { get; init; } = 40;
    /// <summary>Guest operations in the session after each cut (d).</summary>
    public int StepsAfterCut { get; init; } = 6;
    /// <summary>Longest a scenario may take before it counts as a hang.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Where to save the image of a failing cut (null: not saved).</summary>
    public string? FailureDirectory { get; init; }
}

/// <summary>Figures of a simulation run; thread-safe.</summary>
public sealed class PowerCutStats
{
    private long _scenarios, _cuts, _secondCuts, _qemuChecks, _guestWrites, _flushes, _idles, _resizes, _repairs;
    private readonly List<string> _failures = new();

    public long Scenarios => Interlocked.Read(ref _scenarios);
    /// <summary>Power-cut images verified after the first session.</summary>
    public long Cuts => Interlocked.Read(ref _cuts);
    /// <summary>Power-cut images verified in the session that followed a cut (the image kept writable, a second cut).</summary>
    public long SecondCuts => Interlocked.Read(ref _secondCuts);
    public long QemuChecks => Interlocked.Read(ref _qemuChecks);
    public long GuestWrites => Interlocked.Read(ref _guestWrites);
    public long Flushes => Interlocked.Read(ref _flushes);
    public long Idles => Interlocked.Read(ref _idles);
    public long Resizes => Interlocked.Read(ref _resizes);
    /// <summary>Cut images whose need-check bit made the next open repair them.</summary>
    public long Repairs => Interlocked.Read(ref _repairs);

    public IReadOnlyList<string> Failures
    {
        get { lock (_failures) return _failures.ToArray(); }
    }

    internal void AddCut(bool second) => Interlocked.Increment(ref second ? ref _secondCuts : ref _cuts);
    internal void AddQemuCheck() => Interlocked.Increment(ref _qemuChecks);
    private long _qemuCandidates;
    /// <summary>True for one image in <see cref="PowerCutOptions.QemuCheckEvery"/>.</summary>
    internal bool ShouldRunQemuCheck(PowerCutOptions options) =>
        options.QemuCheckEvery > 0 && Interlocked.Increment(ref _qemuCandidates) % options.QemuCheckEvery == 0;
    internal void AddRepair() => Interlocked.Increment(ref _repairs);
    internal void AddScenario(GuestWorkload w)
    {
        Interlocked.Increment(ref _scenarios);
        Interlocked.Add(ref _guestWrites, w.Writes);
        Interlocked.Add(ref _flushes, w.Flushes);
        Interlocked.Add(ref _idles, w.Idles);
        Interlocked.Add(ref _resizes, w.Resizes);
    }

    internal void Fail(string message)
    {
        lock (_failures) _failures.Add(message);
    }

    public override string ToString() =>
        $"{Scenarios} scenarios, {Cuts} cut points after the first session + {SecondCuts} in the session after a cut " +
        $"({Repairs} opened dirty and repaired), {QemuChecks} qemu-img checks, {GuestWrites} guest writes, {Flushes} flushes, " +
        $"{Idles} idle periods, {Resizes} resizes; {Failures.Count} failures";
}

/// <summary>
/// The power-cut simulation: a random guest session on a QED image over a <see cref="RecordingImageFile"/>,
/// then power cuts at points of the logged I/O. At each cut: (a) this engine's check (before and after the
/// repair that the open runs) and qemu-img check find no corruption; (b) every write acknowledged before
/// a completed flush reads back; (c) no sector holds bytes that were never written there; (d) the image
/// takes a further session of writes, which is itself cut and checked the same way, and after an orderly
/// close reads back exactly.
/// </summary>
public static class PowerCutSimulator
{
    private const int Sector = GuestDiskModel.Sector;

    /// <summary>One scenario's geometry and set-up, derived from its seed.</summary>
    public sealed record Scenario(int Seed, uint ClusterSize, uint TableSize, long Size, long MaxSize, byte[]? Backing,
        long CacheBytes, int AsyncPercent)
    {
        public override string ToString() =>
            $"seed {Seed}: cluster {ClusterSize}, table {TableSize}, size {Size}, backing {(Backing is null ? "none" : Backing.Length + " bytes raw")}, " +
            $"cache {CacheBytes}, async {AsyncPercent}%";

        public static Scenario FromSeed(int seed)
        {
            var rng = new Random(seed);
            uint cluster = new uint[] { 4096, 4096, 16384, 65536 }[rng.Next(4)];
            uint table = new uint[] { 1, 2, 4 }[rng.Next(3)];
            // Small tables with small clusters: each table maps 512 KiB to 2 MiB, so sessions create tables.
            long size = (long)rng.Next(8, 33) * cluster * (cluster == 65536 ? 1 : 4);
            long max = size + 8L * cluster;
            byte[]? backing = null;
            if (rng.Next(3) == 0)
            {
                // Shorter or longer than the disk: past its end the disk reads zeros.
                long length = rng.Next(2) == 0 ? size - 3 * cluster : max + cluster;
                backing = new byte[length];
                for (int s = 0; s < length / Sector; s++)
                    GuestDiskModel.Stamp(backing.AsSpan(s * Sector, Sector), GuestDiskModel.BackingVersion, s);
            }
            long cache = rng.Next(3) == 0 ? 1 : 64L << 20;   // 1 byte: the smallest cache (two tables), evictions and pressure write-back
            int asyncPercent = new[] { 0, 0, 30, 70 }[rng.Next(4)];
            return new Scenario(seed, cluster, table, size, max, backing, cache, asyncPercent);
        }
    }

    /// <summary>Runs one scenario, adding its figures and failures to <paramref name="stats"/>.</summary>
    public static async Task RunAsync(int seed, PowerCutOptions options, PowerCutStats stats)
    {
        var scenario = Scenario.FromSeed(seed);
        try
        {
            await RunScenarioAsync(scenario, options, stats).WaitAsync(options.Timeout);
        }
        catch (TimeoutException)
        {
            stats.Fail($"{scenario}: did not finish within {options.Timeout.TotalSeconds:0} s (hang)");
        }
        catch (Exception e)
        {
            stats.Fail($"{scenario}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        }
    }

    private static async Task RunScenarioAsync(Scenario sc, PowerCutOptions options, PowerCutStats stats)
    {
        var rng = new Random(sc.Seed ^ 0x5EED);
        var backingGuard = new List<string>();
        var file = new RecordingImageFile("/sim/disk.qed", seed: sc.Seed, asyncPercent: sc.AsyncPercent);
        await QedImage.CreateAsync(file, new QedCreateOptions
        {
            Size = sc.Size, ClusterSize = sc.ClusterSize, TableSize = sc.TableSize,
            BackingFile = sc.Backing is null ? null : "base.raw", BackingFormat = sc.Backing is null ? null : "raw",
        });
        int created = file.LogLength;
        var time = new ManualTimeProvider();
        var image = await QedImage.OpenAsync(file, OpenOptions(sc, time, backingGuard));
        var model = new GuestDiskModel((int)(sc.MaxSize / Sector), (int)(sc.Size / Sector), s => InitialSector(sc, s));
        var workload = new GuestWorkload(image, file, model, time, rng);
        await workload.RunAsync(options.Steps);
        stats.AddScenario(workload);
        // The orderly close flushes (and clears the need-check bit): a flush for the model, and cut
        // points inside it are as good as any.
        var closing = model.BeginFlush();
        await image.DisposeAsync();
        model.FlushCompleted(closing, file.LogLength);

        // Cut points: the end of the log, and random points (or every point) after the image was created.
        var cuts = new SortedSet<int> { file.LogLength };
        int end = file.LogLength;
        if (options.CutsPerScenario == 0)
            for (int c = created; c <= end; c++) cuts.Add(c);
        else
        {
            // Half of them just before a flush, where the most unflushed operations can be lost.
            var beforeFlush = Enumerable.Range(created, end - created)
                .Where(i => file[i].Kind == RecordingImageFile.OpKind.Flush).ToList();
            for (int i = 0; i < options.CutsPerScenario; i++)
                cuts.Add(i % 2 == 0 && beforeFlush.Count > 0 ? beforeFlush[rng.Next(beforeFlush.Count)] : rng.Next(created, end + 1));
        }
        var prefix = new RecordingImageFile.DurablePrefix(file);
        foreach (int cut in cuts)
        {
            for (int subset = 0; subset < options.SubsetsPerCut; subset++)
            {
                var bytes = file.Materialize(cut, rng, prefix);
                string what = $"{sc}; cut at {cut}/{end}, subset {subset}";
                var after = await VerifyCutAsync(sc, bytes, model, cut, (int)(sc.Size / Sector), options, stats, what, second: false, backingGuard);
                if (after is null) continue;
                await SecondSessionAsync(sc, after.Value.Image, after.Value.File, after.Value.Time, after.Value.Disk, rng, options, stats, what, backingGuard);
            }
        }

        // An orderly close keeps everything, and leaves an image qemu-img finds clean.
        var final = file.ToArray();
        await VerifyOrderlyCloseAsync(sc, final, model, options, stats, $"{sc}; orderly close", backingGuard);
        if (backingGuard.Count > 0) stats.Fail($"{sc}: {backingGuard[0]}");
    }

    private static byte[]? InitialSector(Scenario sc, int s)
    {
        if (sc.Backing is null || (long)(s + 1) * Sector > sc.Backing.Length) return null;
        return sc.Backing.AsSpan(s * Sector, Sector).ToArray();
    }

    private static QedOpenOptions OpenOptions(Scenario sc, ManualTimeProvider time, List<string> backingGuard) => new()
    {
        TimeProvider = time,
        L2CacheBytes = sc.CacheBytes,
        BackingOpener = (_, _, _) => ValueTask.FromResult<IBlockDevice>(
            new RawImage(new GuardedFile("/sim/base.raw", sc.Backing!, backingGuard), readOnly: true)),
    };

    /// <summary>
    /// Checks one cut image: this engine's check before any repair, qemu-img check (sampled), a read-write
    /// open (which repairs a dirty image), the check after it, the size and every sector against the model.
    /// Returns the opened image (over a fresh recording file holding the cut bytes) and what it read, or
    /// null after a failure.
    /// </summary>
    private static async Task<(QedImage Image, RecordingImageFile File, ManualTimeProvider Time, byte[] Disk)?> VerifyCutAsync(
        Scenario sc, byte[] bytes, GuestDiskModel model, int cut, int initialSectors, PowerCutOptions options,
        PowerCutStats stats, string what, bool second, List<string> backingGuard)
    {
        stats.AddCut(second);
        // (a) Before any repair: no entry points past the end of the file or into metadata.
        try
        {
            await using var raw = await QedImage.OpenAsync(new GuardedFile("/sim/cut.qed", bytes, backingGuard),
                new QedOpenOptions { ReadOnly = true, CheckMode = true, NoBacking = true });
            var before = await raw.CheckAsync(repair: false);
            if (before.Corruptions != 0 || before.CheckErrors != 0)
            {
                Fail(stats, options, bytes, $"{what}: check of the cut image found {before.Corruptions} corruptions, {before.CheckErrors} errors");
                return null;
            }
        }
        catch (ImageException e)
        {
            Fail(stats, options, bytes, $"{what}: the cut image does not open read-only: {e.Message}");
            return null;
        }
        if (stats.ShouldRunQemuCheck(options) && QemuCheck(bytes, sc, stats) is { } qemuError)
        {
            Fail(stats, options, bytes, $"{what}: qemu-img check of the cut image: {qemuError}");
            return null;
        }

        // The next read-write open repairs a dirty image; then nothing may be corrupt, and every sector
        // must hold what the model allows.
        bool dirty = QedHeader.Parse(bytes).NeedsCheck;
        var file = new RecordingImageFile("/sim/disk.qed", bytes, seed: bytes.Length ^ cut, asyncPercent: sc.AsyncPercent);
        QedImage image;
        var time = new ManualTimeProvider();
        try
        {
            image = await QedImage.OpenAsync(file, OpenOptions(sc, time, backingGuard));
        }
        catch (ImageException e)
        {
            Fail(stats, options, bytes, $"{what}: the image does not open after the cut: {e.Message}");
            return null;
        }
        if (dirty) stats.AddRepair();
        var check = await image.CheckAsync(repair: false);
        if (check.Corruptions != 0 || check.CheckErrors != 0)
        {
            Fail(stats, options, bytes, $"{what}: check after opening found {check.Corruptions} corruptions, {check.CheckErrors} errors");
            await image.DisposeAsync();
            return null;
        }
        int sectors = (int)(image.Size / Sector);
        var sizes = model.SizesAfterCut(cut, initialSectors).ToList();
        if (!sizes.Contains(sectors))
        {
            Fail(stats, options, bytes, $"{what}: the disk has {sectors} sectors after the cut; possible: {string.Join(", ", sizes)}");
            await image.DisposeAsync();
            return null;
        }
        var disk = await Images.ReadAllAsync(image);
        if (model.Verify(disk, cut) is { } wrong)
        {
            Fail(stats, options, bytes, $"{what}: {wrong}");
            await image.DisposeAsync();
            return null;
        }
        return (image, file, time, disk);
    }

    /// <summary>
    /// (d) The image after a cut stays writable: a further session on it, a second cut in that session's
    /// log (which starts with the repair the open ran), and an orderly close that must keep every write.
    /// </summary>
    private static async Task SecondSessionAsync(Scenario sc, QedImage image, RecordingImageFile file, ManualTimeProvider time,
        byte[] baseline, Random rng, PowerCutOptions options, PowerCutStats stats, string what, List<string> backingGuard)
    {
        int sectors = (int)(image.Size / Sector);
        // What the disk read after the cut is its starting content; grown space reads as it did before.
        var model = new GuestDiskModel((int)(sc.MaxSize / Sector), sectors,
            s => (long)(s + 1) * Sector <= baseline.Length ? baseline.AsSpan(s * Sector, Sector).ToArray() : InitialSector(sc, s),
            firstVersion: 1_000_000);
        var workload = new GuestWorkload(image, file, model, time, rng);
        await workload.RunAsync(options.StepsAfterCut);
        await workload.FlushAsync();
        int end = file.LogLength;
        var flushes = Enumerable.Range(0, end).Where(i => file[i].Kind == RecordingImageFile.OpKind.Flush).ToList();
        int cut = rng.Next(2) == 0 && flushes.Count > 0 ? flushes[rng.Next(flushes.Count)] : rng.Next(0, end + 1);
        var bytes = file.Materialize(cut, rng);
        var reopened = await VerifyCutAsync(sc, bytes, model, cut, sectors, options, stats, $"{what}; second cut at {cut}/{end}", second: true, backingGuard);
        if (reopened is { } r) await r.Image.DisposeAsync();

        await image.DisposeAsync();
        await VerifyOrderlyCloseAsync(sc, file.ToArray(), model, options, stats, $"{what}; orderly close after the cut", backingGuard);
    }

    private static async Task VerifyOrderlyCloseAsync(Scenario sc, byte[] bytes, GuestDiskModel model, PowerCutOptions options,
        PowerCutStats stats, string what, List<string> backingGuard)
    {
        if (QedHeader.Parse(bytes).NeedsCheck)
        {
            Fail(stats, options, bytes, $"{what}: the need-check bit is still set after an orderly close");
            return;
        }
        await using var image = await QedImage.OpenAsync(new GuardedFile("/sim/closed.qed", bytes, backingGuard, readOnly: true),
            OpenOptions(sc, new ManualTimeProvider(), backingGuard) with { ReadOnly = true });
        var check = await image.CheckAsync(repair: false);
        if (check.Corruptions != 0 || check.CheckErrors != 0)
            Fail(stats, options, bytes, $"{what}: check found {check.Corruptions} corruptions, {check.CheckErrors} errors");
        var disk = await Images.ReadAllAsync(image);
        if (model.VerifyExact(disk) is { } wrong) Fail(stats, options, bytes, $"{what}: {wrong}");
        if (stats.ShouldRunQemuCheck(options) && QemuCheck(bytes, sc, stats) is { } qemuError)
            Fail(stats, options, bytes, $"{what}: qemu-img check: {qemuError}");
    }

    /// <summary>qemu-img check of the bytes as a file: null when it finds no corruption (leaks are allowed), else what it said.</summary>
    private static string? QemuCheck(byte[] bytes, Scenario sc, PowerCutStats stats)
    {
        // QEMU cannot open table_size 1 images at all (its table-offset check; see qed/README.md).
        if (sc.TableSize == 1) return null;
        stats.AddQemuCheck();
        string dir = Path.Combine(Path.GetTempPath(), "powercut-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "cut.qed");
            File.WriteAllBytes(path, bytes);
            if (sc.Backing is not null) File.WriteAllBytes(Path.Combine(dir, "base.raw"), sc.Backing);
            var r = Peers.QemuImg("check", "-f", "qed", path);
            // 0: clean; 3: leaked clusters only (no harm to data). 2 is corruption, 1 a failed check.
            return r.ExitCode is 0 or 3 ? null : $"exit {r.ExitCode}: {r.Stdout.Trim()} {r.Stderr.Trim()}";
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void Fail(PowerCutStats stats, PowerCutOptions options, byte[] bytes, string message)
    {
        if (options.FailureDirectory is { } dir)
        {
            Directory.CreateDirectory(dir);
            string name = Path.Combine(dir, $"cut-{stats.Failures.Count:D4}.qed");
            File.WriteAllBytes(name, bytes);
            message += $" (image saved as {name})";
        }
        stats.Fail(message);
    }
}

/// <summary>
/// A file the engine must only read (a backing file, or a cut image opened for checking): any write or
/// length change is recorded as a violation and refused.
/// </summary>
public sealed class GuardedFile(string path, byte[] content, List<string> violations, bool readOnly = false) : IImageFile
{
    public string Path { get; } = path;
    public bool IsReadOnly { get; } = readOnly || path.EndsWith(".raw", StringComparison.Ordinal);
    public long GetLength() => content.Length;

    public ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        int n = (int)Math.Clamp(content.Length - offset, 0, buffer.Length);
        if (n > 0) content.AsSpan((int)offset, n).CopyTo(buffer.Span);
        return ValueTask.FromResult(n);
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (violations) violations.Add($"the engine wrote {buffer.Length} bytes at {offset} to {Path}, which it must only read");
        throw new BlockIOException($"{Path}: written although it must only be read");
    }

    public ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        lock (violations) violations.Add($"the engine set the length of {Path} to {length}, which it must only read");
        throw new BlockIOException($"{Path}: resized although it must only be read");
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
