using Experiments.Tests.Support;

namespace Experiments.Tests;

/// <summary>
/// The deterministic mode (-icount shift=N through <c>emu bench --icount</c>): two runs of the same experiment
/// give the same guest output and the same request trace, byte for byte; the default (host clock) mode
/// still completes the same workload.
/// </summary>
[TestFixture]
public class DeterminismTests
{
    [Test]
    public void TwoDeterministicRunsAreIdenticalAndTheHostModeCompletesTheSameWorkload()
    {
        using var dir = new TestDir();
        var det = Bench.Run(dir["det"], "--short", "--workload", "install", "--configs", "qed64k", "--no-qemu",
            "--icount", "3", "--repeat", "2", "--keep-images");
        Assert.That(det.Process.ExitCode, Is.EqualTo(0), det.Process.ToString());
        var r1 = det.Run("qed64k-writeback-emu-r1");
        var r2 = det.Run("qed64k-writeback-emu-r2");

        // Guest output: the whole console, byte for byte (kernel timestamps and the guest's own timings included).
        var console1 = File.ReadAllBytes(Path.Combine(det.Dir, "console-qed64k-writeback-emu-r1.log"));
        var console2 = File.ReadAllBytes(Path.Combine(det.Dir, "console-qed64k-writeback-emu-r2.log"));
        Assert.That(System.Text.Encoding.ASCII.GetString(console1), Does.Contain("GUEST-UP").And.Contain("WORKLOAD-END install 0"));
        Assert.That(console2, Is.EqualTo(console1), "guest console output");
        Assert.That(r2.GetProperty("console_hash").GetString(), Is.EqualTo(r1.GetProperty("console_hash").GetString()));

        // The request trace: every request with its virtual submit and completion times (host latencies left out).
        static string[] GuestColumns(string file) => File.ReadAllLines(file)
            .Select(l => l.Split(',')).Select(f => string.Join(',', f[0], f[1], f[2], f[3], f[4], f[5], f[9], f[10])).ToArray();
        var trace1 = GuestColumns(Path.Combine(det.Dir, "trace-qed64k-writeback-emu-r1.csv"));
        var trace2 = GuestColumns(Path.Combine(det.Dir, "trace-qed64k-writeback-emu-r2.csv"));
        Assert.That(trace1.Length, Is.GreaterThan(50), "a non-trivial trace");
        Assert.That(trace2, Is.EqualTo(trace1), "request trace");
        string hash = r1.GetProperty("trace").GetProperty("hash").GetString()!;
        Assert.That(hash, Has.Length.EqualTo(64));
        Assert.That(r2.GetProperty("trace").GetProperty("hash").GetString(), Is.EqualTo(hash), "trace hashes");

        // With synchronous host I/O in this mode the engine does the same work in the same order: same images too.
        var image1 = File.ReadAllBytes(Path.Combine(det.Dir, "images", "qed64k-writeback-emu-r1.qed"));
        var image2 = File.ReadAllBytes(Path.Combine(det.Dir, "images", "qed64k-writeback-emu-r2.qed"));
        Assert.That(image2, Is.EqualTo(image1), "QED image files");
        Assert.That(r1.GetProperty("guest").GetProperty("phases").GetProperty("extract").GetDouble(),
            Is.EqualTo(r2.GetProperty("guest").GetProperty("phases").GetProperty("extract").GetDouble()), "guest-reported time");

        var host = Bench.Run(dir["host"], "--short", "--workload", "install", "--configs", "qed64k", "--no-qemu");
        Assert.That(host.Process.ExitCode, Is.EqualTo(0), host.Process.ToString());
        var h = host.Run("qed64k-writeback-emu");
        Assert.That(h.GetProperty("deterministic").GetBoolean(), Is.False);
        Assert.That(r1.GetProperty("deterministic").GetBoolean(), Is.True);
        Assert.That(h.GetProperty("guest").GetProperty("status").GetInt32(), Is.EqualTo(0), "the host-clock run completed");
        Assert.That(h.GetProperty("guest").GetProperty("info").GetProperty("files").GetString(),
            Is.EqualTo(r1.GetProperty("guest").GetProperty("info").GetProperty("files").GetString()), "the same files unpacked");
        Assert.That(h.GetProperty("trace").GetProperty("bytes_written").GetInt64(), Is.GreaterThan(4_000_000));
    }
}
