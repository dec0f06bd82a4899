using Spectre.Console;

namespace Emu.Bench;

/// <summary>
/// Runs an experiment: makes the fresh filesystem and each configuration's initial image, runs the workload
/// for every configuration × cache mode (× repeat) under emu and, beside it, under qemu-system-i386 from a copy
/// of the same initial image, checks every target afterwards, and writes results.json, results.csv,
/// summary.md, the request traces, the guest consoles and the plots into one folder.
/// </summary>
internal static class BenchRunner
{
    public static async Task<int> RunAsync(BenchOptions o)
    {
        var started = DateTimeOffset.UtcNow;
        // Everything the runs need, before anything runs.
        o.GuestFile("bzImage");
        string rootImage = o.GuestFile("rootfs.qed");
        o.GuestFile($"install-{o.Variant}.img");
        HostTool.Find("qemu-img", "qemu-utils");
        HostTool.Find("e2fsck", "e2fsprogs");
        string qemuVersion = "";
        if (o.Qemu)
        {
            var v = HostTool.Run(HostTool.Find(o.QemuBinary, "qemu-system-x86"), ["--version"], TimeSpan.FromSeconds(30));
            qemuVersion = v.Stdout.Split('\n')[0].Trim();
        }
        long installBytes = new FileInfo(o.GuestFile($"install-{o.Variant}.img")).Length;

        Directory.CreateDirectory(o.OutDir);
        string images = Path.Combine(o.OutDir, "images");
        Directory.CreateDirectory(images);
        Console.WriteLine($"emu bench: {o.Workload} ({o.Variant}{(o.EffectiveArgument is { } arg ? $", {arg}" : "")}) on " +
            $"{string.Join(", ", o.Configs.Select(c => c.Name))}; cache {string.Join(", ", o.CacheModes)}; " +
            $"{(o.IcountShift is { } sh ? $"deterministic (-icount shift={sh})" : "host clock")}{(o.Qemu ? "; beside " + qemuVersion : "")}");
        Console.WriteLine($"emu bench: results in {Path.GetFullPath(o.OutDir)}");

        string template = DiskPreparation.MakeTemplate(images, o.TargetBytes);
        var initial = new Dictionary<DiskConfig, string>();
        foreach (var c in o.Configs) initial[c] = await DiskPreparation.PrepareAsync(c, template, images);

        var plan = new List<(RunSpec Spec, string Emulator)>();
        foreach (var c in o.Configs)
            foreach (var cache in o.CacheModes)
                for (int rep = 1; rep <= o.Repeat; rep++)
                    foreach (var emulator in o.Qemu ? new[] { "emu", "qemu" } : new[] { "emu" })
                    {
                        string id = $"{c.Name}-{cache}-{emulator}" + (o.Repeat > 1 ? $"-r{rep}" : "");
                        string ext = c.IsQed ? "qed" : "img";
                        plan.Add((new RunSpec(id, c, cache, rep, Path.Combine(images, $"root-{id}.qed"), Path.Combine(images, $"{id}.{ext}"),
                            Path.Combine(o.OutDir, $"console-{id}.log"), Path.Combine(o.OutDir, $"trace-{id}.csv")), emulator));
                    }

        var results = new List<RunResult>();
        long expected = Workloads.ExpectedBytes(o.Workload, o.EffectiveArgument, installBytes);
        bool interactive = AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;
        async Task RunAll(Func<RunSpec, (Action<double> Set, Action Done)> track)
        {
            foreach (var (spec, emulator) in plan)
            {
                DiskPreparation.SparseCopy(rootImage, spec.RootImage);
                DiskPreparation.SparseCopy(initial[spec.Config], spec.TargetImage);
                var (set, done) = track(spec with { Id = spec.Id });
                RunResult r = emulator == "emu"
                    ? await EmuRunner.RunAsync(o, spec, bytes => set(Math.Min(99, 100.0 * bytes / expected)))
                    : await QemuRunner.RunAsync(o, spec, lines => set(Math.Min(95, lines * 95.0 / 160)));
                r = await CheckAsync(o, spec, r, images);
                File.Delete(spec.RootImage);
                done();
                results.Add(r);
                if (!interactive) Console.WriteLine("emu bench: " + OneLine(r));
            }
        }

        if (interactive)
        {
            await AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                .StartAsync(async ctx =>
                {
                    var tasks = plan.ToDictionary(p => p.Spec.Id, p => ctx.AddTask(Markup.Escape(p.Spec.Id), autoStart: false, maxValue: 100));
                    await RunAll(spec =>
                    {
                        var t = tasks[spec.Id];
                        t.StartTask();
                        return (v => t.Value = Math.Max(t.Value, v), () => { t.Value = 100; t.StopTask(); });
                    });
                });
            foreach (var r in results) Console.WriteLine("emu bench: " + OneLine(r));
        }
        else
        {
            await RunAll(_ => (_ => { }, () => { }));
        }

        var rows = Comparison.From(results);
        ResultsWriter.WriteJson(Path.Combine(o.OutDir, "results.json"), o, results, qemuVersion, started);
        ResultsWriter.WriteCsv(Path.Combine(o.OutDir, "results.csv"), results);
        ResultsWriter.WriteSummary(Path.Combine(o.OutDir, "summary.md"), o, rows, results);
        Plots.WriteAll(o.OutDir, results, rows, o.Configs);
        if (!o.KeepImages) Directory.Delete(images, recursive: true);

        Console.WriteLine();
        Console.Write(ResultsWriter.SummaryTable(rows));
        Console.WriteLine();
        Console.WriteLine($"emu bench: wrote results.json, results.csv, summary.md, latency.png, allocations.png, write-amplification.png, guest-time.png in {Path.GetFullPath(o.OutDir)}");
        var failed = results.Where(r => !r.Completed || r.Check is { Clean: false } || r.Fsck is { Clean: false }).ToList();
        if (failed.Count == 0) return 0;
        Console.Error.WriteLine($"emu bench: {failed.Count} of {results.Count} runs failed: {string.Join(", ", failed.Select(r => r.Id))} (see their console-*.log and results.json)");
        return 1;
    }

    /// <summary>qemu-img check (QED) and e2fsck -fn (workloads that keep the filesystem) on the run's target.</summary>
    private static async Task<RunResult> CheckAsync(BenchOptions o, RunSpec spec, RunResult r, string scratch)
    {
        var check = spec.Config.IsQed ? await ImageChecks.QemuImgCheckAsync(spec.TargetImage) : null;
        var fsck = Workloads.KeepsFilesystem(o.Workload) ? ImageChecks.E2fsck(spec.TargetImage, spec.Config.Format, scratch) : null;
        return r with { Check = check, Fsck = fsck, ImageFile = o.KeepImages ? spec.TargetImage : null };
    }

    private static string OneLine(RunResult r)
    {
        string guest = r.Guest.PhaseSeconds is { } g ? $"guest {g:0.000} s" : "guest time: none";
        string status = r.Completed ? "ok" : r.TimedOut ? "TIMED OUT" : $"FAILED (exit {r.ExitCode}, workload status {r.Guest.Status?.ToString() ?? "none"})";
        string checks = (r.Check is null ? "" : r.Check.OnlySpuriousLeaks ? $", qemu-img check clean but for {r.Check.Leaks} spurious leaks (QEMU's check bug)"
                : r.Check.Clean ? ", qemu-img check clean" : ", qemu-img check ERRORS")
            + (r.Fsck is null ? "" : r.Fsck.Clean ? ", e2fsck clean" : ", e2fsck ERRORS");
        return $"{r.Id}: {guest}, host {r.HostSeconds:0.0} s, file {r.FileBytes / 1048576.0:0.0} MiB{checks}: {status}";
    }
}
