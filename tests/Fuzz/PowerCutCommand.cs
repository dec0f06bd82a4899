using System.CommandLine;
using System.Diagnostics;
using Qed.Tests.PowerCut;

namespace Fuzz;

/// <summary>
/// fuzz powercut: random guest sessions cut at every position of their I/O log (or a number of random
/// ones), each cut image checked by this engine and by qemu-img, reopened, read back, written and cut again.
/// </summary>
internal static class PowerCutCommand
{
    public static Command Build()
    {
        var cuts = new Option<long>("--cuts") { Description = "stop after this many first-session cut points", DefaultValueFactory = _ => 10_000 };
        var seed = new Option<int>("--seed") { Description = "first scenario seed", DefaultValueFactory = _ => 1_000_000 };
        var perScenario = new Option<int>("--cuts-per-scenario") { Description = "0: every position of each session's log", DefaultValueFactory = _ => 0 };
        var subsets = new Option<int>("--subsets") { Description = "random subsets of the unflushed operations per cut point", DefaultValueFactory = _ => 1 };
        var qemuEvery = new Option<int>("--qemu-check-every") { Description = "run qemu-img check on one cut image in N (0: never)", DefaultValueFactory = _ => 1 };
        var jobs = new Option<int>("--jobs") { Description = "scenarios run at once", DefaultValueFactory = _ => 1 };
        var save = new Option<string?>("--save") { Description = "folder for the images of failing cuts" };
        var cmd = new Command("powercut", "Power-cut simulation of the QED engine") { cuts, seed, perScenario, subsets, qemuEvery, jobs, save };
        cmd.SetAction(async (p, ct) =>
        {
            var options = new PowerCutOptions
            {
                CutsPerScenario = p.GetValue(perScenario),
                SubsetsPerCut = p.GetValue(subsets),
                QemuCheckEvery = p.GetValue(qemuEvery),
                Steps = 40,
                StepsAfterCut = 6,
                FailureDirectory = p.GetValue(save),
            };
            var stats = new PowerCutStats();
            long target = p.GetValue(cuts);
            int next = p.GetValue(seed);
            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            var workers = Enumerable.Range(0, Math.Max(1, p.GetValue(jobs))).Select(_ => Task.Run(async () =>
            {
                while (stats.Cuts < target && !ct.IsCancellationRequested)
                {
                    int s = Interlocked.Increment(ref next) - 1;
                    await PowerCutSimulator.RunAsync(s, options, stats);
                    lock (stats)
                    {
                        if (clock.Elapsed - lastReport > TimeSpan.FromMinutes(1))
                        {
                            lastReport = clock.Elapsed;
                            Console.WriteLine($"[{clock.Elapsed:hh\\:mm\\:ss}] {stats}");
                        }
                    }
                }
            })).ToArray();
            await Task.WhenAll(workers);
            Console.WriteLine($"powercut: {stats} in {clock.Elapsed:hh\\:mm\\:ss}");
            foreach (var f in stats.Failures) Console.WriteLine("FAILURE: " + f);
            return stats.Failures.Count == 0 ? 0 : 1;
        });
        return cmd;
    }
}
