using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Qed;

namespace EmuImg;

/// <summary>
/// bench [-c count] [-d depth] [-f fmt] [--flush-interval=n] [-i aio] [-n] [--no-drain] [-o offset]
/// [--pattern=p] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename, as qemu-img bench:
/// count requests, depth in flight, each at the previous offset plus step (wrapping at the end).
/// emu-img adds --offsets-file: requests go to the offsets listed there (one per line, cycled), so a
/// random pattern can be replayed here and, as a qemu-io script, in QEMU.
/// </summary>
internal static class BenchCommand
{
    public static Command Build(EmuImgCli cli)
    {
        var count = new Option<int>("-c") { Description = "number of requests (default 75000)", DefaultValueFactory = _ => 75000 };
        var depth = new Option<int>("-d") { Description = "requests in flight (default 64)", DefaultValueFactory = _ => 64 };
        var format = EmuImgCli.FormatOption();
        var flushInterval = new Option<int>("--flush-interval") { Description = "flush after every n requests" };
        var aio = new Option<string>("-i") { Description = "accepted for compatibility (AIO backend)" };
        var native = new Option<bool>("-n") { Description = "accepted for compatibility (native AIO)" };
        var noDrain = new Option<bool>("--no-drain") { Description = "flush without waiting for the requests in flight" };
        var offset = new Option<string>("-o") { Description = "offset of the first request" };
        var pattern = new Option<int>("--pattern") { Description = "byte written by write requests (default 0)" };
        var quiet = EmuImgCli.QuietOption();
        var bufSize = new Option<string>("-s") { Description = "bytes per request (default 4096)" };
        var step = new Option<string>("-S") { Description = "distance between request offsets (default: the request size)" };
        var cache = EmuImgCli.CacheOption("-t");
        var write = new Option<bool>("-w") { Description = "write instead of read" };
        var share = EmuImgCli.ForceShareOption();
        var offsetsFile = new Option<string>("--offsets-file") { Description = "emu-img only: take request offsets from this file (one per line)" };
        var stats = new Option<bool>("--stats") { Description = "emu-img only: print the QED engine's counters after the run" };
        var filename = new Argument<string>("filename");
        var cmd = new Command("bench", "Run a simple I/O benchmark on an image")
            { count, depth, format, flushInterval, aio, native, noDrain, offset, pattern, quiet, bufSize, step, cache, write, share, offsetsFile, stats, filename };
        cmd.SetAction(async (p, ct) =>
        {
            int n = p.GetValue(count), d = p.GetValue(depth);
            if (n < 1) throw new CliException("Invalid request count specified");
            if (d < 1) throw new CliException("Invalid queue depth specified");
            int size = (int)(p.GetValue(bufSize) is { } s ? EmuImgCli.ParseSize(s, "buffer size") : 4096);
            if (size <= 0) throw new CliException("Invalid buffer size specified");
            long stepSize = p.GetValue(step) is { } st ? EmuImgCli.ParseSize(st, "step size") : 0;
            if (stepSize == 0) stepSize = size;
            long start = p.GetValue(offset) is { } o ? EmuImgCli.ParseSize(o, "offset") : 0;
            int flushEvery = p.GetValue(flushInterval);
            if (flushEvery < 0) throw new CliException("Invalid flush interval specified");
            bool isWrite = p.GetValue(write);
            long[]? offsets = p.GetValue(offsetsFile) is { } f ? ReadOffsets(f) : null;

            var device = await EmuImgCli.OpenAsync(p.GetValue(filename)!, p.GetValue(format), new QedOpenOptions { ReadOnly = !isWrite });
            await using (device)
            {
                if (device.Size < size) throw new CliException("The image is smaller than one request");
                if (!p.GetValue(quiet))
                {
                    cli.Out.WriteLine($"Sending {n} {(isWrite ? "write" : "read")} requests, {size} bytes each, {d} in parallel " +
                                      (offsets is null ? $"(starting at offset {start}, step size {stepSize})" : $"(offsets from {p.GetValue(offsetsFile)})"));
                    if (flushEvery > 0) cli.Out.WriteLine($"Sending flush every {flushEvery} requests");
                }
                var run = new Run(device, n, size, stepSize, start, offsets, isWrite, (byte)p.GetValue(pattern), flushEvery);
                var sw = Stopwatch.StartNew();
                await run.ExecuteAsync(Math.Min(d, n), ct);
                sw.Stop();
                if (!p.GetValue(quiet))
                    cli.Out.WriteLine($"Run completed in {sw.Elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture)} seconds.");
                if (p.GetValue(stats) && device is QedImage q)
                {
                    var c = q.Statistics;
                    cli.Out.WriteLine($"guest: {c.GuestReads} reads ({c.GuestBytesRead} bytes), {c.GuestWrites} writes ({c.GuestBytesWritten} bytes)");
                    cli.Out.WriteLine($"host: {c.HostReads} reads ({c.HostBytesRead} bytes), {c.HostWrites} writes ({c.HostBytesWritten} bytes), {c.Flushes} flushes");
                    cli.Out.WriteLine($"allocating writes {c.AllocatingWrites}, clusters allocated {c.ClustersAllocated}, copy-on-write bytes {c.CopyOnWriteBytes}");
                    cli.Out.WriteLine($"L2 cache {c.L2CacheHits} hits, {c.L2CacheMisses} misses; writes: L1 {c.L1Writes}, L2 {c.L2Writes}, header {c.HeaderWrites}; need-check set {c.NeedCheckSets}, cleared {c.NeedCheckClears}");
                    cli.Out.WriteLine($"write amplification {c.WriteAmplification.ToString("0.000", CultureInfo.InvariantCulture)}");
                }
            }
            return 0;
        });
        return cmd;
    }

    private static long[] ReadOffsets(string path)
    {
        try
        {
            var list = new List<long>();
            foreach (var line in File.ReadLines(path))
            {
                if (string.IsNullOrWhiteSpace(line)) continue;
                list.Add(Sizes.TryParse(line) ?? throw new CliException($"{path}: '{line.Trim()}' is not an offset"));
            }
            if (list.Count == 0) throw new CliException($"{path}: no offsets");
            return list.ToArray();
        }
        catch (IOException e)
        {
            throw new CliException($"Could not read '{path}': {e.Message}");
        }
    }

    private sealed class Run(IBlockDevice device, int count, int size, long step, long start, long[]? offsets, bool write, byte pattern, int flushEvery)
    {
        private int _issued = -1;
        private int _completed;
        private long _next = start;
        private readonly object _lock = new();

        public Task ExecuteAsync(int workers, CancellationToken ct) =>
            Task.WhenAll(Enumerable.Range(0, workers).Select(_ => WorkerAsync(ct)));

        private long NextOffset(int index)
        {
            if (offsets is not null) return offsets[index % offsets.Length];
            lock (_lock)
            {
                long o = _next;
                _next = (_next + step) % device.Size;
                return o;
            }
        }

        private async Task WorkerAsync(CancellationToken ct)
        {
            await Task.Yield();
            var buffer = new byte[size];
            if (write) Array.Fill(buffer, pattern);
            while (true)
            {
                int i = Interlocked.Increment(ref _issued);
                if (i >= count) return;
                long o = NextOffset(i);
                if (o > device.Size - size) throw new CliException($"Request at offset {o} lies past the end of the image");
                if (write) await device.WriteAsync(o, buffer, ct);
                else await device.ReadAsync(o, buffer, ct);
                int done = Interlocked.Increment(ref _completed);
                if (flushEvery > 0 && done % flushEvery == 0) await device.FlushAsync(ct);
            }
        }
    }
}
