using System.CommandLine;
using System.Diagnostics;
using Machine.Tests.Virtio.Fuzz;

namespace Fuzz;

/// <summary>
/// fuzz virtio: the hostile-guest fuzzer over many seeds, cycling through the disks (QED, QED over a
/// backing file, read-only QED, raw) and completion modes (at once, half later, most later).
/// </summary>
internal static class VirtioCommand
{
    public static Command Build()
    {
        var sessions = new Option<int>("--sessions") { Description = "fuzzing sessions (each a fresh disk and device)", DefaultValueFactory = _ => 400 };
        var batches = new Option<int>("--batches") { Description = "batches of requests per session", DefaultValueFactory = _ => 2500 };
        var seed = new Option<int>("--seed") { Description = "first session's seed", DefaultValueFactory = _ => 1_000_000 };
        var jobs = new Option<int>("--jobs") { Description = "sessions run at once", DefaultValueFactory = _ => 1 };
        var cmd = new Command("virtio", "Fuzz the virtio-blk device as a hostile guest") { sessions, batches, seed, jobs };
        cmd.SetAction(async (p, ct) =>
        {
            var all = new HostileGuestStats();
            var disks = Enum.GetValues<FuzzDisk>();
            int[] asyncModes = [0, 50, 90];
            int count = p.GetValue(sessions), first = p.GetValue(seed), next = 0;
            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            var workers = Enumerable.Range(0, Math.Max(1, p.GetValue(jobs))).Select(_ => Task.Run(async () =>
            {
                while (!ct.IsCancellationRequested)
                {
                    int i = Interlocked.Increment(ref next) - 1;
                    if (i >= count) break;
                    var options = new HostileGuestOptions
                    {
                        Seed = first + i,
                        Batches = p.GetValue(batches),
                        Disk = disks[i % disks.Length],
                        AsyncPercent = asyncModes[i / disks.Length % asyncModes.Length],
                    };
                    var stats = await HostileGuestFuzzer.RunAsync(options);
                    all.Add(stats);
                    lock (all)
                    {
                        foreach (var f in stats.Failures) Console.WriteLine("FAILURE: " + f);
                        if (clock.Elapsed - lastReport > TimeSpan.FromMinutes(1))
                        {
                            lastReport = clock.Elapsed;
                            Console.WriteLine($"[{clock.Elapsed:hh\\:mm\\:ss}] {i + 1} sessions: {all}");
                        }
                    }
                }
            })).ToArray();
            await Task.WhenAll(workers);
            Console.WriteLine($"virtio: {count} sessions, {all} in {clock.Elapsed:hh\\:mm\\:ss}");
            return all.Failures.Count == 0 ? 0 : 1;
        });
        return cmd;
    }
}
