using System.Diagnostics;
using System.Security.Cryptography;
using Emulator.Cpu;
using Emulator.Machine;
using Emulator.Virtio;
using Qed;

namespace Emu.Bench;

/// <summary>
/// One run under this project's PC, in this process: the machine built from qemu-system-i386 style flags (as
/// emu builds it), the target disk's requests recorded with the QED engine's allocation counter, the guest's
/// console captured, and the engine's counters read after the images are closed.
/// </summary>
internal static class EmuRunner
{
    /// <summary>The machine flags of a run, shared with the QEMU run (which adds its own).</summary>
    public static List<string> MachineArgs(BenchOptions o, string root, string target, string format, string cache)
    {
        var args = new List<string>
        {
            "-m", o.MemoryMiB.ToString(), "-nographic", "-no-reboot",
            "-kernel", o.GuestFile("bzImage"), "-append", o.Append,
            "-drive", $"file={root},format=qed,if=virtio",
            "-drive", $"file={target},format={format},if=virtio,cache={cache}",
            "-drive", $"file={o.GuestFile($"install-{o.Variant}.img")},format=raw,if=virtio,readonly=on",
        };
        if (o.IcountShift is { } shift) args.AddRange(["-icount", $"shift={shift}", "-rtc", "base=2000-01-01"]);
        return args;
    }

    public static async Task<RunResult> RunAsync(BenchOptions o, RunSpec spec, Action<long>? bytesWritten)
    {
        var options = QemuCommandLine.Parse(MachineArgs(o, spec.RootImage, spec.TargetImage, spec.Config.Format, spec.Cache));
        var opened = new List<IBlockDevice>();
        var capture = new CaptureCharBackend(spec.ConsoleFile);
        var warnings = new StringWriter();
        Pc pc;
        try
        {
            pc = new Pc(options, (m, io, pin) => new X86Cpu(m, io, pin), drive => Open(drive, opened), _ => capture, warnings);
        }
        catch
        {
            foreach (var d in opened) await d.DisposeAsync();
            capture.Dispose();
            throw;
        }
        var target = pc.Disks[1];
        var qed = target.Backend as QedImage;
        var recorder = new DiskTraceRecorder(target, qed is null ? null : () => qed.Statistics.ClustersAllocated);
        long written = 0;
        var record = target.Device.Engine.Trace!;
        target.Device.Engine.Trace = t =>
        {
            record(t);
            if (t.Op == BlockOp.Write) bytesWritten?.Invoke(written += t.Length);
        };

        using var timeout = new Timer(_ => pc.RequestExit(124, "the run took too long"), null, o.Timeout, Timeout.InfiniteTimeSpan);
        var watch = Stopwatch.StartNew();
        MachineExit exit;
        try
        {
            exit = pc.Run();
        }
        finally
        {
            watch.Stop();
            // The loop's synchronization context is no longer pumped: close the images without it.
            SynchronizationContext.SetSynchronizationContext(null);
            await pc.DisposeAsync();
        }

        var console = capture.Text;
        using (var w = new StreamWriter(spec.TraceFile)) recorder.WriteCsv(w);
        var (length, allocated) = await ImageChecks.FileSizesAsync(spec.TargetImage, spec.Config.Format);
        var stats = qed?.Statistics;
        return new RunResult
        {
            Id = spec.Id, Config = spec.Config.Name, Cache = spec.Cache, Emulator = "emu", Repeat = spec.Repeat,
            Deterministic = o.IcountShift is not null,
            ExitCode = exit.ExitCode,
            TimedOut = exit.ExitCode == 124 && exit.Reason.Contains("too long"),
            Guest = GuestReport.Parse(console),
            HostSeconds = watch.Elapsed.TotalSeconds,
            FileBytes = length,
            AllocatedBytes = allocated,
            Engine = stats,
            WriteAmplification = stats is { } s ? s.WriteAmplification : 1.0,
            Trace = Summarize(recorder),
            ConsoleHash = Convert.ToHexStringLower(SHA256.HashData(capture.Bytes)),
            ConsoleFile = spec.ConsoleFile,
            TraceFile = spec.TraceFile,
            ImageFile = spec.TargetImage,
            Diagnostics = warnings.ToString().Trim(),
        };
    }

    /// <summary>emu's drive opener (emulator/Emu/Program.cs) that also keeps the opened images.</summary>
    private static IBlockDevice Open(DriveOptions drive, List<IBlockDevice> opened)
    {
        var device = ImageOpener.OpenAsync(drive.File, drive.ResolveFormat() == DriveFormat.Qed ? "qed" : "raw",
            new QedOpenOptions
            {
                ReadOnly = drive.ReadOnly,
                TimeProvider = drive.TimeProvider ?? TimeProvider.System,
                SynchronousIo = drive.SynchronousIo,
            }).GetAwaiter().GetResult();
        opened.Add(device);
        return device;
    }

    private static TraceSummary Summarize(DiskTraceRecorder recorder)
    {
        var e = recorder.Entries;
        double Percentile(IEnumerable<long> values, double p)
        {
            var sorted = values.OrderBy(v => v).ToArray();
            if (sorted.Length == 0) return 0;
            return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)] / 1000.0;
        }
        return new TraceSummary
        {
            Requests = e.Count,
            Reads = e.Count(x => x.Request.Op == BlockOp.Read),
            Writes = e.Count(x => x.Request.Op == BlockOp.Write),
            Flushes = e.Count(x => x.Request.Op == BlockOp.Flush),
            Other = e.Count(x => x.Request.Op is BlockOp.Discard or BlockOp.WriteZeroes),
            BytesRead = e.Where(x => x.Request.Op == BlockOp.Read).Sum(x => x.Request.Length),
            BytesWritten = e.Where(x => x.Request.Op == BlockOp.Write).Sum(x => x.Request.Length),
            HostLatencyP50Us = Percentile(e.Select(x => x.HostLatencyNs), 0.50),
            HostLatencyP99Us = Percentile(e.Select(x => x.HostLatencyNs), 0.99),
            HostLatencyMaxUs = Percentile(e.Select(x => x.HostLatencyNs), 1.0),
            VirtualLatencyP50Us = Percentile(e.Select(x => x.VirtualLatencyNs), 0.50),
            VirtualLatencyP99Us = Percentile(e.Select(x => x.VirtualLatencyNs), 0.99),
            Hash = recorder.TraceHash(),
        };
    }
}

/// <summary>The files of one run.</summary>
internal sealed record RunSpec(string Id, DiskConfig Config, string Cache, int Repeat, string RootImage, string TargetImage,
    string ConsoleFile, string TraceFile);
