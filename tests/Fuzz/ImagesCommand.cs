using System.CommandLine;
using System.Diagnostics;
using Qed.Tests.Fuzzing;

namespace Fuzz;

/// <summary>
/// fuzz images: mutated QED images through the engine in memory (open, read, map, convert, check,
/// repair, write, reopen) and one input in N through emu-img's commands on real files.
/// </summary>
internal static class ImagesCommand
{
    public static Command Build()
    {
        var inputs = new Option<long>("--inputs") { Description = "inputs to try", DefaultValueFactory = _ => 1_000_000 };
        var seed = new Option<int>("--seed") { Description = "number of the first input (input n is reproducible from n alone)", DefaultValueFactory = _ => 100_000_000 };
        var toolEvery = new Option<int>("--tool-every") { Description = "also run emu-img's commands on one input in N (0: never)", DefaultValueFactory = _ => 100 };
        var jobs = new Option<int>("--jobs") { Description = "inputs run at once", DefaultValueFactory = _ => 1 };
        var timeBound = new Option<int>("--time-bound") { Description = "seconds an input may take before it counts as a hang", DefaultValueFactory = _ => 30 };
        var save = new Option<string?>("--save") { Description = "folder for failing inputs" };
        var cmd = new Command("images", "Fuzz the QED engine and emu-img with mutated images") { inputs, seed, toolEvery, jobs, timeBound, save };
        cmd.SetAction(async (p, ct) =>
        {
            var corpus = ImageCorpus.Build();
            long total = p.GetValue(inputs);
            int jobCount = Math.Max(1, p.GetValue(jobs));
            int first = p.GetValue(seed);
            var bound = TimeSpan.FromSeconds(p.GetValue(timeBound));
            string? saveDir = p.GetValue(save);
            var clock = Stopwatch.StartNew();
            var all = new ImageFuzzStats();
            const long slice = 10_000;
            long nextSlice = 0;
            var workers = Enumerable.Range(0, jobCount).Select(_ => Task.Run(async () =>
            {
                var fuzzer = new ImageFuzzer(corpus);
                var tools = new ToolFuzzer(corpus, bound);
                while (!ct.IsCancellationRequested)
                {
                    long start = Interlocked.Add(ref nextSlice, slice) - slice;
                    if (start >= total) break;
                    var stats = new ImageFuzzStats();
                    await ImageFuzzRunner.RunAsync(fuzzer, first + (int)start, Math.Min(slice, total - start), stats, bound,
                        tools.Run, p.GetValue(toolEvery), (s, input, why) =>
                        {
                            if (saveDir is null) return;
                            Directory.CreateDirectory(saveDir);
                            File.WriteAllBytes(Path.Combine(saveDir, $"input-{s}.qed"), input);
                            File.WriteAllText(Path.Combine(saveDir, $"input-{s}.txt"), why + "\n");
                        });
                    lock (all)
                    {
                        all.Inputs += stats.Inputs;
                        all.Accepted += stats.Accepted;
                        all.Refused += stats.Refused;
                        all.ToolInputs += stats.ToolInputs;
                        all.Failures.AddRange(stats.Failures);
                        if (stats.WorstAllocationRatio > all.WorstAllocationRatio)
                        {
                            all.WorstAllocationRatio = stats.WorstAllocationRatio;
                            all.WorstAllocation = stats.WorstAllocation;
                        }
                        Console.WriteLine($"[{clock.Elapsed:hh\\:mm\\:ss}] {all}");
                        foreach (var (s, why) in stats.Failures) Console.WriteLine($"FAILURE input {s}: {why}");
                    }
                }
            })).ToArray();
            await Task.WhenAll(workers);
            Console.WriteLine($"images: {all} in {clock.Elapsed:hh\\:mm\\:ss}");
            return all.Failures.Count == 0 ? 0 : 1;
        });
        return cmd;
    }
}
