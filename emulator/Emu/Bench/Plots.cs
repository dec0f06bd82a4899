using System.Globalization;
using ScottPlot;

namespace Emu.Bench;

/// <summary>
/// The experiment's PNG plots (ScottPlot): request latency distribution, allocation over guest time, write
/// amplification per configuration, and guest-reported time beside QEMU's.
/// </summary>
internal static class Plots
{
    private const int Width = 900, Height = 520;

    /// <summary>The columns of a trace CSV (DiskTraceRecorder.WriteCsv) that the plots use.</summary>
    private sealed record Trace(double[] HostLatencyUs, double[] CompleteSeconds, long[] ClustersAllocated);

    private static Trace Load(string path)
    {
        var lat = new List<double>();
        var t = new List<double>();
        var alloc = new List<long>();
        long first = -1;
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var c = line.Split(',');
            if (c.Length < 11) continue;
            long submit = long.Parse(c[3], CultureInfo.InvariantCulture);
            if (first < 0) first = submit;
            t.Add((long.Parse(c[4], CultureInfo.InvariantCulture) - first) / 1e9);
            lat.Add(long.Parse(c[8], CultureInfo.InvariantCulture) / 1000.0);
            alloc.Add(long.Parse(c[10], CultureInfo.InvariantCulture));
        }
        return new Trace(lat.ToArray(), t.ToArray(), alloc.ToArray());
    }

    private static string Label(RunResult r) => r.Cache == "writeback" ? r.Config : $"{r.Config} ({r.Cache})";

    public static void WriteAll(string dir, IReadOnlyList<RunResult> runs, IReadOnlyList<Comparison> rows, IReadOnlyList<DiskConfig> configs)
    {
        // With repeats, the per-request plots show the first run of each configuration (guest time shows medians).
        var emu = runs.Where(r => r.Emulator == "emu" && r.Repeat == 1 && r.TraceFile is not null && File.Exists(r.TraceFile)).ToList();
        var traces = emu.ToDictionary(r => r, r => Load(r.TraceFile!));
        Latency(Path.Combine(dir, "latency.png"), traces);
        Allocations(Path.Combine(dir, "allocations.png"), traces, configs);
        WriteAmplification(Path.Combine(dir, "write-amplification.png"), emu);
        GuestTime(Path.Combine(dir, "guest-time.png"), rows);
    }

    /// <summary>Cumulative distribution of host-clock latency (submission to completion) of the target's requests.</summary>
    private static void Latency(string path, Dictionary<RunResult, Trace> traces)
    {
        var plt = new Plot();
        foreach (var (run, trace) in traces)
        {
            if (trace.HostLatencyUs.Length == 0) continue;
            var sorted = trace.HostLatencyUs.Order().ToArray();
            int points = Math.Min(sorted.Length, 2000);
            var xs = new double[points];
            var ys = new double[points];
            for (int i = 0; i < points; i++)
            {
                int k = (int)((long)i * (sorted.Length - 1) / Math.Max(1, points - 1));
                xs[i] = Math.Log10(Math.Max(0.1, sorted[k]));
                ys[i] = 100.0 * (k + 1) / sorted.Length;
            }
            var s = plt.Add.Scatter(xs, ys);
            s.MarkerSize = 0;
            s.LineWidth = 2;
            s.LegendText = Label(run);
        }
        double[] ticks = [0, 1, 2, 3, 4, 5, 6];
        string[] labels = ["1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s"];
        plt.Axes.Bottom.SetTicks(ticks, labels);
        plt.Axes.Bottom.Label.Text = "host-clock latency, submission to completion on the loop (log scale)";
        plt.Axes.Left.Label.Text = "requests completed within (%)";
        plt.Title("Latency distribution of the target disk's requests (emu)");
        plt.ShowLegend(Alignment.LowerRight);
        plt.SavePng(path, Width, Height);
    }

    /// <summary>Data clusters allocated (as MiB) against guest time, for the QED configurations.</summary>
    private static void Allocations(string path, Dictionary<RunResult, Trace> traces, IReadOnlyList<DiskConfig> configs)
    {
        var plt = new Plot();
        foreach (var (run, trace) in traces)
        {
            var config = configs.FirstOrDefault(c => c.Name == run.Config);
            if (config is null || !config.IsQed || trace.ClustersAllocated.Length == 0 || trace.ClustersAllocated[0] < 0) continue;
            int n = trace.CompleteSeconds.Length;
            int step = Math.Max(1, n / 4000);
            var xs = new List<double>();
            var ys = new List<double>();
            for (int i = 0; i < n; i += step)
            {
                xs.Add(trace.CompleteSeconds[i]);
                ys.Add(trace.ClustersAllocated[i] * (double)config.ClusterSize / 1048576.0);
            }
            xs.Add(trace.CompleteSeconds[^1]);
            ys.Add(trace.ClustersAllocated[^1] * (double)config.ClusterSize / 1048576.0);
            var s = plt.Add.Scatter(xs.ToArray(), ys.ToArray());
            s.MarkerSize = 0;
            s.LineWidth = 2;
            s.LegendText = Label(run);
        }
        plt.Axes.Bottom.Label.Text = "guest time since the first request (s)";
        plt.Axes.Left.Label.Text = "clusters allocated × cluster size (MiB)";
        plt.Title("Allocation over time (emu, QED configurations)");
        plt.ShowLegend(Alignment.UpperLeft);
        plt.SavePng(path, Width, Height);
    }

    /// <summary>Host bytes written per guest byte written, per configuration.</summary>
    private static void WriteAmplification(string path, List<RunResult> emu)
    {
        var plt = new Plot();
        var runs = emu.Where(r => r.WriteAmplification is not null).ToList();
        var bars = runs.Select((r, i) => new Bar { Position = i, Value = r.WriteAmplification!.Value, Label = r.WriteAmplification!.Value.ToString("0.00", CultureInfo.InvariantCulture) }).ToList();
        var bp = plt.Add.Bars(bars);
        bp.ValueLabelStyle.FontSize = 14;
        plt.Axes.Bottom.SetTicks(runs.Select((_, i) => (double)i).ToArray(), runs.Select(Label).ToArray());
        plt.Axes.Left.Label.Text = "host bytes written / guest bytes written";
        plt.Axes.Margins(bottom: 0, top: 0.2);
        plt.Title("Write amplification per configuration (emu)");
        plt.SavePng(path, Width, Height);
    }

    /// <summary>The guest's own time for the workload under emu and under QEMU, per configuration.</summary>
    private static void GuestTime(string path, IReadOnlyList<Comparison> rows)
    {
        var plt = new Plot();
        var emuColor = Colors.C0;
        var qemuColor = Colors.C1;
        var bars = new List<Bar>();
        var ticks = new List<double>();
        var labels = new List<string>();
        for (int i = 0; i < rows.Count; i++)
        {
            double x = i * 3;
            if (Comparison.MedianGuestSeconds(rows[i].Emu) is { } e) bars.Add(new Bar { Position = x, Value = e, FillColor = emuColor });
            if (Comparison.MedianGuestSeconds(rows[i].Qemu) is { } q) bars.Add(new Bar { Position = x + 1, Value = q, FillColor = qemuColor });
            ticks.Add(x + 0.5);
            labels.Add(rows[i].Cache == "writeback" ? rows[i].Config : $"{rows[i].Config} ({rows[i].Cache})");
        }
        plt.Add.Bars(bars);
        plt.Axes.Bottom.SetTicks(ticks.ToArray(), labels.ToArray());
        plt.Axes.Left.Label.Text = "guest-reported time (s)";
        plt.Axes.Margins(bottom: 0, top: 0.15);
        plt.Legend.ManualItems.Add(new LegendItem { LabelText = "emu", FillColor = emuColor });
        plt.Legend.ManualItems.Add(new LegendItem { LabelText = "QEMU (TCG)", FillColor = qemuColor });
        plt.ShowLegend(Alignment.UpperRight);
        plt.Title("Workload time as the guest measured it");
        plt.SavePng(path, Width, Height);
    }
}
