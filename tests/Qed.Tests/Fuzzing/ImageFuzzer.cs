using Qed.Tests.Support;

namespace Qed.Tests.Fuzzing;

/// <summary>What happened to one fuzzed input.</summary>
public enum FuzzVerdict { Accepted, Refused, Failed }

/// <summary>
/// Drives the QED engine over one mutated image in memory, as the tools and the emulator would: probe,
/// read-only open with its backing chain, reads, map, check, check-and-repair, a read-write open (which
/// repairs a dirty image) with writes, write-zeroes, flush and close, a reopen that must read the writes
/// back, and a conversion that must read the same as its source.
/// </summary>
/// <remarks>
/// Rules, each a failure when broken: every refusal is an <see cref="ImageException"/> with a one-line
/// message (anything else escaping is a crash); no input takes longer than the time bound; the bytes
/// allocated stay under a bound tied to the file's length, never to a header field; no file other than
/// the image being repaired or written is written, and that one not beyond what its writes justify; an
/// image that checks without corruption keeps every acknowledged write and stays without corruption.
/// </remarks>
public sealed class ImageFuzzer(ImageCorpus corpus)
{
    /// <summary>Bytes the fuzzer itself may allocate per input beyond the bound on the engine.</summary>
    public const long FixedAllocation = 4L << 20;
    /// <summary>How many times the file's length an input may allocate (copies of it, its tables, the check's bitmap).</summary>
    public const int AllocationPerFileByte = 16;
    private const int MaxConvertBytes = 8 << 20;
    private const int MaxExtents = 100_000;

    public ImageCorpus Corpus => corpus;

    /// <summary>Largest allocation seen per input, relative to the bound (for the report).</summary>
    public double WorstAllocationRatio { get; private set; }
    public string WorstAllocation { get; private set; } = "";

    /// <summary>Opens a sandbox file as a backing image (format given or probed), with the sandbox's opener for its own backing file.</summary>
    public static async ValueTask<IBlockDevice> OpenSandboxFileAsync(string path, string? format, IReadOnlyDictionary<string, byte[]> files,
        List<string> violations, int depth)
    {
        string name = path.StartsWith(ImageCorpus.Folder + "/", StringComparison.Ordinal) ? path[(ImageCorpus.Folder.Length + 1)..] : path;
        if (!files.TryGetValue(name, out var bytes))
            throw new ImageException($"Could not open '{path}': No such file or directory");
        // The engine's loop detection works on host paths; in memory a chain this deep has looped.
        if (depth > 6) throw new ImageException($"Could not open '{path}': backing chain deeper than the sandbox allows");
        var file = new SandboxFile(path, bytes, writable: false, limit: 0, violations);
        var options = new QedOpenOptions
        {
            ReadOnly = true,
            TimeProvider = new ManualTimeProvider(),
            BackingOpener = (p, f, _) => OpenSandboxFileAsync(p, f, files, violations, depth + 1),
        };
        return await ImageOpener.OpenFileAsync(file, format, options);
    }

    /// <summary>Runs one input through every operation; returns the verdict and, for a failure, why.</summary>
    public async Task<(FuzzVerdict Verdict, string? Why)> RunAsync(byte[] input, int seed, TimeSpan timeBound)
    {
        var run = new Run(this, input, seed);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Task<FuzzVerdict> task;
        try
        {
            task = run.ExecuteAsync();
        }
        catch (Exception e)
        {
            return (FuzzVerdict.Failed, Crash(e));
        }
        if (!task.IsCompleted)
        {
            try
            {
                await task.WaitAsync(timeBound);
            }
            catch (TimeoutException)
            {
                return (FuzzVerdict.Failed, $"did not finish within {timeBound.TotalSeconds:0} s (hang); step: {run.Step}");
            }
            catch (Exception)
            {
                // reported below from the task itself
            }
        }
        // The conversion's buffers are the fuzzer's own, sized by the disk it copies: not counted.
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before - run.ConvertAllocated;
        if (task.IsFaulted) return (FuzzVerdict.Failed, $"step {run.Step}: " + Crash(task.Exception!.InnerException!));
        long bound = FixedAllocation + AllocationPerFileByte * (long)input.Length;
        if ((double)allocated / bound > WorstAllocationRatio)
        {
            WorstAllocationRatio = (double)allocated / bound;
            WorstAllocation = $"input {seed}: {allocated} bytes for a {input.Length}-byte file";
        }
        if (allocated > bound)
            return (FuzzVerdict.Failed, $"allocated {allocated} bytes for a {input.Length}-byte file (bound {bound}); step: {run.Step}");
        if (run.Violations.Count > 0) return (FuzzVerdict.Failed, run.Violations[0]);
        if (run.Problem is { } problem) return (FuzzVerdict.Failed, $"step {run.Step}: {problem}");
        return (task.Result, null);
    }

    private static string Crash(Exception e) =>
        $"unhandled {e.GetType().FullName}: {e.Message}\n{e.StackTrace}";

    /// <summary>The state of one input's run.</summary>
    private sealed class Run(ImageFuzzer fuzzer, byte[] input, int seed)
    {
        public readonly List<string> Violations = new();
        public string Step = "start";
        public string? Problem;
        public long ConvertAllocated;
        private readonly Random _rng = new(seed);
        private bool _refused;
        private readonly byte[] _buffer = new byte[1 << 16];

        private string ImagePath => $"{ImageCorpus.Folder}/{ImageCorpus.ImageName}";

        private Dictionary<string, byte[]> Files()
        {
            var files = new Dictionary<string, byte[]>(fuzzer.Corpus.Files) { [ImageCorpus.ImageName] = input };
            return files;
        }

        private QedOpenOptions Options(bool readOnly, IReadOnlyDictionary<string, byte[]> files) => new()
        {
            ReadOnly = readOnly,
            TimeProvider = new ManualTimeProvider(),
            L2CacheBytes = 1 << 16,
            BackingOpener = (p, f, _) => OpenSandboxFileAsync(p, f, files, Violations, depth: 1),
        };

        /// <summary>A refusal: an ImageException with one line. Anything else is rethrown (a crash).</summary>
        private bool Refused(Exception e)
        {
            if (e is not ImageException) return false;
            _refused = true;
            if (string.IsNullOrWhiteSpace(e.Message) || e.Message.Any(c => char.IsControl(c) || c is '\u2028' or '\u2029'))
                Problem ??= $"an error message is not one printable line: '{e.Message}'";
            return true;
        }

        public async Task<FuzzVerdict> ExecuteAsync()
        {
            var files = Files();
            Step = "probe";
            try
            {
                await ImageOpener.ProbeAsync(new SandboxFile(ImagePath, input, false, 0, Violations));
            }
            catch (Exception e) when (Refused(e)) { }

            await ReadOnlyAsync(files);
            long corruptions = await CheckAsync();
            await RepairAsync();
            await WriteAsync(files, corruptions);
            return _refused ? FuzzVerdict.Refused : FuzzVerdict.Accepted;
        }

        /// <summary>Open read-only (probing the format, with the backing chain), read here and there, map, convert.</summary>
        private async Task ReadOnlyAsync(IReadOnlyDictionary<string, byte[]> files)
        {
            Step = "open read-only";
            IBlockDevice device;
            try
            {
                device = await ImageOpener.OpenFileAsync(new SandboxFile(ImagePath, input, false, 0, Violations), null, Options(true, files));
            }
            catch (Exception e) when (Refused(e))
            {
                return;
            }
            await using (device)
            {
                Step = "read";
                long size = device.Size;
                var ranges = new List<(long, int)> { (0, (int)Math.Min(size, _buffer.Length)) };
                for (int i = 0; i < 3 && size > 0; i++)
                {
                    int len = (int)Math.Min(size, _rng.Next(1, _buffer.Length / 512 + 1) * 512);
                    ranges.Add((_rng.NextInt64(0, (size - len) / 512 + 1) * 512, len));
                }
                if (size >= 4096) ranges.Add((size - 4096, 4096));
                foreach (var (offset, length) in ranges)
                {
                    try { await device.ReadAsync(offset, _buffer.AsMemory(0, length)); }
                    catch (Exception e) when (Refused(e)) { }
                }

                Step = "map";
                int extents = 0;
                var map = new List<MapEntry>();
                try
                {
                    await foreach (var entry in ImageMap.MapAsync(device, 0, size))
                    {
                        if (entry.Length <= 0) { Problem ??= $"map returned an empty extent at {entry.Start}"; break; }
                        if (++extents > MaxExtents) { Problem ??= $"map returned more than {MaxExtents} extents for a {input.Length}-byte file"; break; }
                        if (entry.Start + entry.Length <= MaxConvertBytes) map.Add(entry);
                    }
                }
                catch (Exception e) when (Refused(e))
                {
                    return;
                }
                if (size <= MaxConvertBytes)
                {
                    long start = GC.GetAllocatedBytesForCurrentThread();
                    await ConvertAsync(device, map);
                    ConvertAllocated = GC.GetAllocatedBytesForCurrentThread() - start;
                }
            }
        }

        /// <summary>qemu-img convert's copy loop into a fresh QED image: the result must read as the source does.</summary>
        private async Task ConvertAsync(IBlockDevice source, List<MapEntry> map)
        {
            Step = "convert";
            var expected = new byte[source.Size];
            try
            {
                for (long pos = 0; pos < expected.Length; pos += 1 << 20)
                    await source.ReadAsync(pos, expected.AsMemory((int)pos, (int)Math.Min(1 << 20, expected.Length - pos)));
            }
            catch (Exception e) when (Refused(e))
            {
                return;
            }
            // Map and read must agree: extents map calls zero read as zeros.
            foreach (var extent in map)
                if (extent.Zero && !extent.Data && expected.AsSpan((int)extent.Start, (int)extent.Length).IndexOfAnyExcept((byte)0) >= 0)
                {
                    Problem ??= $"map says [{extent.Start}, +{extent.Length}) reads as zeros, but it does not";
                    return;
                }
            var outFile = new SandboxFile($"{ImageCorpus.Folder}/out.qed", [], writable: true, limit: 4L * expected.Length + (4 << 20), Violations);
            await QedImage.CreateAsync(outFile, new QedCreateOptions { Size = expected.Length, ClusterSize = 4096, TableSize = 4 });
            await using (var target = await QedImage.OpenAsync(outFile, new QedOpenOptions { TimeProvider = new ManualTimeProvider() }))
            {
                foreach (var extent in map)
                    if (extent.Data) await target.WriteAsync(extent.Start, expected.AsMemory((int)extent.Start, (int)extent.Length));
                var copy = await Images.ReadAllAsync(target);
                int diff = expected.AsSpan().CommonPrefixLength(copy);
                if (diff < expected.Length) Problem ??= $"the converted image differs from its source at byte {diff}";
            }
        }

        /// <summary>Check without repair (qemu-img check); returns the corruptions it found, or -1 if refused.</summary>
        private async Task<long> CheckAsync()
        {
            Step = "check";
            try
            {
                await using var image = await QedImage.OpenAsync(new SandboxFile(ImagePath, input, false, 0, Violations),
                    new QedOpenOptions { ReadOnly = true, CheckMode = true, NoBacking = true, TimeProvider = new ManualTimeProvider() });
                var r = await image.CheckAsync(repair: false);
                return r.Corruptions;
            }
            catch (Exception e) when (Refused(e))
            {
                return -1;
            }
        }

        /// <summary>check -r all on a copy, then check again: repair must not make things worse or fail.</summary>
        private async Task RepairAsync()
        {
            Step = "repair";
            var file = new SandboxFile(ImagePath, input, true, Limit(), Violations);
            try
            {
                await using var image = await QedImage.OpenAsync(file, new QedOpenOptions { CheckMode = true, NoBacking = true, TimeProvider = new ManualTimeProvider() });
                var first = await image.CheckAsync(repair: true);
                var again = await image.CheckAsync(repair: false);
                if (again.Corruptions > first.Corruptions)
                    Problem ??= $"repair left {again.Corruptions} corruptions where it found {first.Corruptions}";
            }
            catch (Exception e) when (Refused(e)) { }
        }

        /// <summary>The most a repaired or written copy may grow to: twice the input, and room for a few new clusters and tables.</summary>
        private long Limit()
        {
            long cluster = input.Length >= 8 ? Math.Min(BitConverter.ToUInt32(input, 4), 1u << 26) : 0;
            return 2L * input.Length + (2 << 20) + 40 * cluster;
        }

        /// <summary>
        /// Read-write open (repairs a dirty image), writes, write-zeroes, flush, close; a reopen must read
        /// every write back and, if the image had no corruption, find none.
        /// </summary>
        private async Task WriteAsync(IReadOnlyDictionary<string, byte[]> files, long corruptionsBefore)
        {
            Step = "open read-write";
            var file = new SandboxFile(ImagePath, input, true, Limit(), Violations);
            QedImage image;
            try
            {
                image = await QedImage.OpenAsync(file, Options(false, files));
            }
            catch (Exception e) when (Refused(e))
            {
                return;
            }
            var written = new List<(long Offset, byte[] Data)>();
            bool trusted;
            await using (image)
            {
                // Writes must read back only where the image is sound (a cluster referenced twice is
                // shared by two guest offsets, in QEMU as here).
                try
                {
                    trusted = corruptionsBefore == 0 && (await image.CheckAsync(repair: false)).Corruptions == 0;
                }
                catch (Exception e) when (Refused(e))
                {
                    trusted = false;
                }
                Step = "write";
                long size = image.Size;
                for (int i = 0; i < 4 && size > 0; i++)
                {
                    int len = (int)Math.Min(size, _rng.Next(1, 3 * Math.Min(image.ClusterSize, 1 << 16) / 512 + 1) * 512L);
                    long at = _rng.NextInt64(0, (size - len) / 512 + 1) * 512;
                    try
                    {
                        if (i == 3)
                        {
                            await image.WriteZeroesAsync(at, len);
                            written.Add((at, new byte[len]));
                        }
                        else
                        {
                            var data = new byte[len];
                            _rng.NextBytes(data);
                            await image.WriteAsync(at, data);
                            written.Add((at, data));
                        }
                    }
                    catch (Exception e) when (Refused(e))
                    {
                        trusted = false;   // a refused write may have changed part of its range
                    }
                }
                Step = "flush";
                try { await image.FlushAsync(); }
                catch (Exception e) when (Refused(e)) { }
                Step = "close";
            }

            Step = "reopen";
            var after = file.ToArray();
            var reopenedFiles = new Dictionary<string, byte[]>(files) { [ImageCorpus.ImageName] = after };
            try
            {
                await using var reopened = await QedImage.OpenAsync(new SandboxFile(ImagePath, after, false, 0, Violations), Options(true, reopenedFiles));
                if (!trusted) return;
                Step = "read back";
                // Later writes win where ranges overlap.
                for (int i = 0; i < written.Count; i++)
                {
                    var (offset, data) = written[i];
                    var back = new byte[data.Length];
                    await reopened.ReadAsync(offset, back);
                    for (int k = 0; k < data.Length; k += 512)
                    {
                        long at = offset + k;
                        bool overwritten = written.Skip(i + 1).Any(w => at >= w.Offset && at < w.Offset + w.Data.Length);
                        if (!overwritten && !back.AsSpan(k, 512).SequenceEqual(data.AsSpan(k, 512)))
                        {
                            Problem ??= $"a write of {data.Length} bytes at {offset} does not read back at {at} after the image was closed and reopened";
                            return;
                        }
                    }
                }
                Step = "check after writing";
                await using var checkImage = await QedImage.OpenAsync(new SandboxFile(ImagePath, after, false, 0, Violations),
                    new QedOpenOptions { ReadOnly = true, CheckMode = true, NoBacking = true, TimeProvider = new ManualTimeProvider() });
                var check = await checkImage.CheckAsync(repair: false);
                if (check.Corruptions > 0) Problem ??= $"writing into a sound image left {check.Corruptions} corruptions";
            }
            catch (Exception e) when (Refused(e))
            {
                if (trusted) Problem ??= $"an image that was sound and written in order does not reopen: {e.Message}";
            }
        }
    }
}
