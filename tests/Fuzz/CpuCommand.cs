using System.CommandLine;
using System.Diagnostics;
using Cpu.Tests.Fuzz;

namespace Fuzz;

/// <summary>fuzz cpu: random bytes executed on the whole board in every mode, over many seeds.</summary>
internal static class CpuCommand
{
    public static Command Build()
    {
        var rounds = new Option<long>("--rounds") { Description = "rounds of random code in all", DefaultValueFactory = _ => 2_000_000 };
        var perSeed = new Option<int>("--rounds-per-seed") { Description = "rounds on one board before a fresh one", DefaultValueFactory = _ => 20_000 };
        var seed = new Option<int>("--seed") { Description = "first board's seed", DefaultValueFactory = _ => 1_000_000 };
        var jobs = new Option<int>("--jobs") { Description = "boards run at once", DefaultValueFactory = _ => 1 };
        var cmd = new Command("cpu", "Run random code in every CPU mode on the whole board") { rounds, perSeed, seed, jobs };
        cmd.SetAction(async (p, ct) =>
        {
            var all = new EveryModeStats();
            long total = p.GetValue(rounds);
            int each = p.GetValue(perSeed), first = p.GetValue(seed);
            long boards = (total + each - 1) / each;
            long next = 0;
            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            var workers = Enumerable.Range(0, Math.Max(1, p.GetValue(jobs))).Select(_ => Task.Run(() =>
            {
                while (!ct.IsCancellationRequested)
                {
                    long i = Interlocked.Increment(ref next) - 1;
                    if (i >= boards) break;
                    using var fuzzer = new EveryModeFuzzer(first + (int)i);
                    // A board that hangs is a failure too.
                    if (!fuzzer.Run(each, TimeSpan.FromSeconds(Math.Max(120, each / 50))))
                    {
                        lock (all) all.Failures.Add($"seed {first + i}: the board did not finish {each} rounds in time (hang)");
                        continue;
                    }
                    all.Add(fuzzer.Stats);
                    lock (all)
                    {
                        foreach (var f in fuzzer.Stats.Failures) Console.WriteLine($"FAILURE seed {first + i}: {f}");
                        if (clock.Elapsed - lastReport > TimeSpan.FromMinutes(1))
                        {
                            lastReport = clock.Elapsed;
                            Console.WriteLine($"[{clock.Elapsed:hh\\:mm\\:ss}] {all}");
                        }
                    }
                }
            })).ToArray();
            await Task.WhenAll(workers);
            Console.WriteLine($"cpu: {all} in {clock.Elapsed:hh\\:mm\\:ss}");
            return all.Failures.Count == 0 ? 0 : 1;
        });
        return cmd;
    }
}
