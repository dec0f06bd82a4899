using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Emulator.Virtio;

namespace Emulator.Machine;

/// <summary>
/// Records every request one virtio disk finishes (BlockIoEngine's trace: operation, offset, length, submit
/// and completion time on the virtual and the host clock, success), optionally with a sample of the image's
/// allocation counter at each completion, so that allocations can be plotted over guest time.
/// </summary>
/// <remarks>
/// The <see cref="TraceHash"/> covers only what the guest determines: the host clock and the allocation
/// samples are left out, so in the deterministic mode two runs of the same experiment give the same hash.
/// Recording appends to a list on the loop thread; it is meant for experiments, not for every run.
/// </remarks>
public sealed class DiskTraceRecorder
{
    /// <summary>One finished request and the image's clusters allocated when it completed (−1 when unknown).</summary>
    public readonly record struct Entry(BlockRequestTrace Request, long ClustersAllocated)
    {
        public long VirtualLatencyNs => Request.CompleteVirtualNs - Request.SubmitVirtualNs;

        public long HostLatencyNs =>
            (long)((Request.CompleteHostTicks - Request.SubmitHostTicks) * (1e9 / Stopwatch.Frequency));
    }

    private readonly List<Entry> entries = new();
    private readonly Func<long>? clustersAllocated;
    /// <summary>Host clock origin of the CSV's host times (when recording started).</summary>
    private readonly long hostStart = Stopwatch.GetTimestamp();

    /// <summary>Starts recording the requests of <paramref name="disk"/> (replacing any other trace callback).</summary>
    /// <param name="clustersAllocated">Read at each completion (the QED engine's counter), or null.</param>
    public DiskTraceRecorder(VirtioDisk disk, Func<long>? clustersAllocated = null)
    {
        Disk = disk;
        this.clustersAllocated = clustersAllocated;
        disk.Device.Engine.Trace = Record;
    }

    public VirtioDisk Disk { get; }

    public IReadOnlyList<Entry> Entries => entries;

    private void Record(BlockRequestTrace t) => entries.Add(new Entry(t, clustersAllocated?.Invoke() ?? -1));

    /// <summary>SHA-256 (hex) of the guest-determined fields of every request, in completion order.</summary>
    public string TraceHash()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> record = stackalloc byte[34];
        foreach (var e in entries)
        {
            var t = e.Request;
            record[0] = (byte)t.Op;
            BinaryPrimitives.WriteInt64LittleEndian(record[1..], t.Offset);
            BinaryPrimitives.WriteInt64LittleEndian(record[9..], t.Length);
            BinaryPrimitives.WriteInt64LittleEndian(record[17..], t.SubmitVirtualNs);
            BinaryPrimitives.WriteInt64LittleEndian(record[25..], t.CompleteVirtualNs);
            record[33] = t.Succeeded ? (byte)1 : (byte)0;
            sha.AppendData(record);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    public const string CsvHeader =
        "op,sector,length,submit_virtual_ns,complete_virtual_ns,virtual_latency_ns,submit_host_ns,complete_host_ns,host_latency_ns,ok,clusters_allocated";

    /// <summary>
    /// One line per request, in completion order, after <see cref="CsvHeader"/>: the operation, its first
    /// 512-byte sector and length in bytes, its times on the virtual clock (ns since power-on) and on the host
    /// clock (ns since recording started), whether it succeeded, and the image's clusters allocated then.
    /// </summary>
    public void WriteCsv(TextWriter w)
    {
        w.Write(CsvHeader + "\n");
        var inv = CultureInfo.InvariantCulture;
        double toNs = 1e9 / Stopwatch.Frequency;
        foreach (var e in entries)
        {
            var t = e.Request;
            long submitHost = (long)((t.SubmitHostTicks - hostStart) * toNs), completeHost = (long)((t.CompleteHostTicks - hostStart) * toNs);
            w.Write(string.Create(inv, $"{t.Op.ToString().ToLowerInvariant()},{t.Offset / 512},{t.Length},{t.SubmitVirtualNs},{t.CompleteVirtualNs},{e.VirtualLatencyNs},{submitHost},{completeHost},{e.HostLatencyNs},{(t.Succeeded ? 1 : 0)},{e.ClustersAllocated}\n"));
        }
    }
}
