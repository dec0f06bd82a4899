using System.Globalization;
using Qed;

namespace Emu.Bench;

/// <summary>What the guest printed about itself (guest-images/workloads/run.sh's WORKLOAD lines).</summary>
internal sealed record GuestReport
{
    public bool Began { get; init; }
    /// <summary>The workload's exit status as the guest printed it (null: it never finished).</summary>
    public int? Status { get; init; }
    public double? TotalSeconds { get; init; }
    public Dictionary<string, double> Phases { get; init; } = new();
    public Dictionary<string, string> Info { get; init; } = new();

    public bool Completed => Status == 0;

    /// <summary>Sum of the timed phases (the workload's own time, without mounting and counting).</summary>
    public double? PhaseSeconds => Phases.Count == 0 ? null : Phases.Values.Sum();

    public static GuestReport Parse(string console)
    {
        var r = new GuestReport();
        foreach (var raw in console.Split('\n'))
        {
            var w = raw.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (w.Length == 0) continue;
            switch (w[0])
            {
                case "WORKLOAD-BEGIN": r = r with { Began = true }; break;
                case "WORKLOAD-TIME" when w.Length == 4 && double.TryParse(w[3], NumberStyles.Float, CultureInfo.InvariantCulture, out double s):
                    r.Phases[w[2]] = s;
                    break;
                case "WORKLOAD-INFO" when w.Length == 4: r.Info[w[2]] = w[3]; break;
                case "WORKLOAD-END" when w.Length == 4:
                    r = r with
                    {
                        Status = int.TryParse(w[2], out int st) ? st : -1,
                        TotalSeconds = double.TryParse(w[3], NumberStyles.Float, CultureInfo.InvariantCulture, out double t) ? t : null,
                    };
                    break;
            }
        }
        return r;
    }
}

/// <summary>
/// qemu-img check's verdict on a QED image (its JSON output), beside this project's own check of the same file.
/// QEMU 7.2's check reports leaks that do not exist once a file holds cluster_size − 1 clusters or more (it
/// divides by cluster_size − 1; see qed/README.md); such a report counts as clean when QEMU found exactly the
/// predicted number of those leaks, nothing else, and the engine's check finds no leak and no corruption.
/// </summary>
internal sealed record ImageCheck(int ExitCode, long Corruptions, long Leaks, long CheckErrors, long AllocatedClusters,
    long TotalClusters, long ImageEndOffset, string Output)
{
    /// <summary>The leaks QEMU's check bug reports for a file of this length with no real leak.</summary>
    public long PredictedSpuriousLeaks { get; init; }
    public long EngineLeaks { get; init; }
    public long EngineCorruptions { get; init; }

    public bool OnlySpuriousLeaks => ExitCode == 3 && Corruptions == 0 && CheckErrors == 0 && Leaks > 0
        && Leaks == PredictedSpuriousLeaks && EngineLeaks == 0 && EngineCorruptions == 0;

    public bool Clean => (ExitCode == 0 && Corruptions == 0 && Leaks == 0 && CheckErrors == 0) || OnlySpuriousLeaks;
}

/// <summary>e2fsck -fn's verdict on the target's filesystem.</summary>
internal sealed record FsCheck(int ExitCode, string Output)
{
    public bool Clean => ExitCode == 0;
}

/// <summary>Summary of the target disk's request trace (emu runs).</summary>
internal sealed record TraceSummary
{
    public long Requests { get; init; }
    public long Reads { get; init; }
    public long Writes { get; init; }
    public long Flushes { get; init; }
    public long Other { get; init; }
    public long BytesRead { get; init; }
    public long BytesWritten { get; init; }
    public double HostLatencyP50Us { get; init; }
    public double HostLatencyP99Us { get; init; }
    public double HostLatencyMaxUs { get; init; }
    public double VirtualLatencyP50Us { get; init; }
    public double VirtualLatencyP99Us { get; init; }
    /// <summary>SHA-256 of the guest-determined trace fields (identical across deterministic runs).</summary>
    public required string Hash { get; init; }
}

/// <summary>One run of the matrix: a workload on one disk configuration and cache mode, under one emulator.</summary>
internal sealed record RunResult
{
    public required string Id { get; init; }
    public required string Config { get; init; }
    public required string Cache { get; init; }
    /// <summary>"emu" or "qemu".</summary>
    public required string Emulator { get; init; }
    public int Repeat { get; init; } = 1;
    public bool Deterministic { get; init; }
    public int ExitCode { get; init; }
    public bool TimedOut { get; init; }
    public required GuestReport Guest { get; init; }
    public double HostSeconds { get; init; }
    /// <summary>The target image file after the run: its length and the bytes the host allocated to it.</summary>
    public long FileBytes { get; init; }
    public long AllocatedBytes { get; init; }
    public ImageCheck? Check { get; init; }
    public FsCheck? Fsck { get; init; }
    /// <summary>The QED engine's counters for the target (emu runs on QED configurations).</summary>
    public QedStatistics? Engine { get; init; }
    public TraceSummary? Trace { get; init; }
    /// <summary>SHA-256 of everything the guest printed on its console.</summary>
    public required string ConsoleHash { get; init; }
    public string? TraceFile { get; init; }
    public required string ConsoleFile { get; init; }
    public string? ImageFile { get; init; }
    /// <summary>What the emulator itself said on stderr (warnings, errors), trimmed.</summary>
    public string Diagnostics { get; init; } = "";
    /// <summary>Host bytes written per guest byte written: the engine's counters for QED; 1 for raw (writes pass through).</summary>
    public double? WriteAmplification { get; init; }

    /// <summary>The run did what it should: the guest finished its workload and powered off.</summary>
    public bool Completed => Guest.Completed && ExitCode == 1 && !TimedOut;
}
