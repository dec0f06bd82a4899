using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Emu.Bench;

/// <summary>One row of the summary: a configuration and cache mode, emu beside QEMU.</summary>
internal sealed record Comparison(string Config, string Cache, RunResult[] Emu, RunResult[] Qemu)
{
    public RunResult? FirstEmu => Emu.FirstOrDefault();
    public RunResult? FirstQemu => Qemu.FirstOrDefault();

    /// <summary>The guest-reported time (its timed phases), median over the repeats.</summary>
    public static double? MedianGuestSeconds(RunResult[] runs)
    {
        var v = runs.Where(r => r.Guest.PhaseSeconds is not null).Select(r => r.Guest.PhaseSeconds!.Value).Order().ToArray();
        return v.Length == 0 ? null : v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    public static IReadOnlyList<Comparison> From(IReadOnlyList<RunResult> runs) =>
        runs.GroupBy(r => (r.Config, r.Cache))
            .Select(g => new Comparison(g.Key.Config, g.Key.Cache,
                g.Where(r => r.Emulator == "emu").ToArray(), g.Where(r => r.Emulator == "qemu").ToArray()))
            .ToList();
}

/// <summary>results.json, results.csv and summary.md of an experiment.</summary>
internal static class ResultsWriter
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void WriteJson(string path, BenchOptions o, IReadOnlyList<RunResult> runs, string qemuVersion, DateTimeOffset started)
    {
        var doc = new
        {
            Workload = o.Workload,
            Variant = o.Variant,
            Argument = o.EffectiveArgument,
            Deterministic = o.IcountShift is not null,
            IcountShift = o.IcountShift,
            TargetBytes = o.TargetBytes,
            Configs = o.Configs.Select(c => new { c.Name, c.Format, c.ClusterSize, c.Overlay, c.Description }),
            CacheModes = o.CacheModes,
            Repeat = o.Repeat,
            QemuVersion = o.Qemu ? qemuVersion : null,
            Host = new { Environment.ProcessorCount, Os = Environment.OSVersion.ToString(), Dotnet = Environment.Version.ToString() },
            StartedUtc = started.ToString("o", Inv),
            Runs = runs,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(doc, Json) + "\n");
    }

    private static string F(double? v, string format = "0.000") => v is { } x ? x.ToString(format, Inv) : "";

    public static void WriteCsv(string path, IReadOnlyList<RunResult> runs)
    {
        var sb = new StringBuilder();
        sb.Append("id,config,cache,emulator,repeat,completed,guest_seconds,guest_total_seconds,host_seconds,file_bytes,allocated_bytes,")
          .Append("requests,guest_bytes_written,host_bytes_written,write_amplification,allocating_writes,clusters_allocated,cow_bytes,")
          .Append("l2_cache_hits,l2_cache_misses,l1_writes,l2_writes,header_writes,flushes,need_check_sets,need_check_clears,")
          .Append("host_reads,host_writes,host_bytes_read,guest_reads,guest_writes,guest_flushes,guest_bytes_read,")
          .Append("host_latency_p50_us,host_latency_p99_us,virtual_latency_p50_us,virtual_latency_p99_us,qemu_img_check_clean,allocated_clusters,total_clusters,image_end_offset,e2fsck_clean,trace_hash,console_hash\n");
        foreach (var r in runs)
        {
            var e = r.Engine;
            string[] cells =
            [
                r.Id, r.Config, r.Cache, r.Emulator, r.Repeat.ToString(Inv), r.Completed ? "1" : "0",
                F(r.Guest.PhaseSeconds, "0.000000"), F(r.Guest.TotalSeconds, "0.000000"), F(r.HostSeconds),
                r.FileBytes.ToString(Inv), r.AllocatedBytes.ToString(Inv),
                r.Trace?.Requests.ToString(Inv) ?? "",
                (e?.GuestBytesWritten ?? r.Trace?.BytesWritten)?.ToString(Inv) ?? "",
                (e?.HostBytesWritten ?? (r.Emulator == "emu" ? r.Trace?.BytesWritten : null))?.ToString(Inv) ?? "",
                F(r.WriteAmplification, "0.0000"),
                e?.AllocatingWrites.ToString(Inv) ?? "", e?.ClustersAllocated.ToString(Inv) ?? "", e?.CopyOnWriteBytes.ToString(Inv) ?? "",
                e?.L2CacheHits.ToString(Inv) ?? "", e?.L2CacheMisses.ToString(Inv) ?? "", e?.L1Writes.ToString(Inv) ?? "",
                e?.L2Writes.ToString(Inv) ?? "", e?.HeaderWrites.ToString(Inv) ?? "", e?.Flushes.ToString(Inv) ?? "",
                e?.NeedCheckSets.ToString(Inv) ?? "", e?.NeedCheckClears.ToString(Inv) ?? "",
                e?.HostReads.ToString(Inv) ?? "", e?.HostWrites.ToString(Inv) ?? "", e?.HostBytesRead.ToString(Inv) ?? "",
                r.Trace?.Reads.ToString(Inv) ?? "", r.Trace?.Writes.ToString(Inv) ?? "", r.Trace?.Flushes.ToString(Inv) ?? "",
                r.Trace?.BytesRead.ToString(Inv) ?? "",
                F(r.Trace?.HostLatencyP50Us, "0.0"), F(r.Trace?.HostLatencyP99Us, "0.0"),
                F(r.Trace?.VirtualLatencyP50Us, "0.0"), F(r.Trace?.VirtualLatencyP99Us, "0.0"),
                r.Check is null ? "" : r.Check.Clean ? "1" : "0",
                r.Check?.AllocatedClusters.ToString(Inv) ?? "", r.Check?.TotalClusters.ToString(Inv) ?? "", r.Check?.ImageEndOffset.ToString(Inv) ?? "",
                r.Fsck is null ? "" : r.Fsck.Clean ? "1" : "0",
                r.Trace?.Hash ?? "", r.ConsoleHash,
            ];
            sb.Append(string.Join(',', cells)).Append('\n');
        }
        File.WriteAllText(path, sb.ToString());
    }

    private static string MiB(long? bytes) => bytes is { } b ? (b / 1048576.0).ToString("0.0", Inv) : "–";

    /// <summary>"clean, fs clean": qemu-img check (QED only), then e2fsck -fn (workloads that keep the filesystem).</summary>
    private static string CheckText(RunResult? r)
    {
        if (r is null) return "–";
        var parts = new List<string>();
        if (r.Check is not null) parts.Add(r.Check.OnlySpuriousLeaks ? $"clean¹" : r.Check.Clean ? "clean" : "ERRORS");
        if (r.Fsck is not null) parts.Add(r.Fsck.Clean ? "fs clean" : "FS ERRORS");
        if (!r.Completed) parts.Add("RUN FAILED");
        return parts.Count == 0 ? "–" : string.Join(", ", parts);
    }

    /// <summary>The Markdown table (also printed at the end of a run).</summary>
    public static string SummaryTable(IReadOnlyList<Comparison> rows)
    {
        var sb = new StringBuilder();
        sb.Append("| configuration | cache | guest time emu (s) | guest time QEMU (s) | requests | guest written (MiB) | host written (MiB) | write ampl. | clusters allocated | COW (MiB) | disk size emu (MiB) | disk size QEMU (MiB) | allocated clusters emu / QEMU | checks emu | checks QEMU |\n");
        sb.Append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        foreach (var c in rows)
        {
            var e = c.FirstEmu;
            var q = c.FirstQemu;
            var s = e?.Engine;
            string alloc(RunResult? r) => r?.Check is { } k ? $"{k.AllocatedClusters}/{k.TotalClusters}" : "–";
            sb.Append($"| {c.Config} | {c.Cache} | {F(Comparison.MedianGuestSeconds(c.Emu), "0.00")} | {F(Comparison.MedianGuestSeconds(c.Qemu), "0.00")} | ")
              .Append($"{e?.Trace?.Requests.ToString(Inv) ?? "–"} | {MiB(s?.GuestBytesWritten ?? e?.Trace?.BytesWritten)} | ")
              .Append($"{MiB(s?.HostBytesWritten ?? e?.Trace?.BytesWritten)} | {F(e?.WriteAmplification, "0.00")} | ")
              .Append($"{s?.ClustersAllocated.ToString(Inv) ?? "–"} | {MiB(s?.CopyOnWriteBytes)} | {MiB(e?.AllocatedBytes)} | {MiB(q?.AllocatedBytes)} | ")
              .Append($"{alloc(e)} / {alloc(q)} | {CheckText(e)} | {CheckText(q)} |\n");
        }
        return sb.ToString();
    }

    public static void WriteSummary(string path, BenchOptions o, IReadOnlyList<Comparison> rows, IReadOnlyList<RunResult> runs)
    {
        var sb = new StringBuilder();
        sb.Append($"# emu bench: {o.Workload} ({o.Variant}{(o.EffectiveArgument is { } a ? $", {a}" : "")})\n\n");
        sb.Append($"Target disk {o.TargetBytes >> 20} MiB, fresh ext4; {(o.IcountShift is { } s ? $"deterministic mode (-icount shift={s})" : "host clock")}; ")
          .Append($"{runs.Count} runs.\n\n");
        sb.Append(SummaryTable(rows));
        sb.Append("\nGuest time: the workload's timed phases as the guest measured them (CLOCK_MONOTONIC). ")
          .Append("Write amplification: host bytes written per guest byte written (QED engine counters; raw passes writes through). ")
          .Append("Disk size: bytes the host allocated to the image file (qemu-img's \"disk size\"). ")
          .Append("Allocated clusters: qemu-img check's count for the QED image after the run, out of the image's total. ")
          .Append("Checks: qemu-img check (QED) and e2fsck -fn (the guest filesystem) after the run. ")
          .Append("¹ qemu-img check reported only the leaks its own bug predicts for a file of this many clusters (it divides by cluster_size − 1; see qed/README.md) and the engine's check found none.\n\n");
        sb.Append("![latency](latency.png) ![allocations](allocations.png) ![write amplification](write-amplification.png) ![guest time](guest-time.png)\n");
        File.WriteAllText(path, sb.ToString());
    }
}
