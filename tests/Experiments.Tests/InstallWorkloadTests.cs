using System.Text.Json;
using Experiments.Tests.Support;

namespace Experiments.Tests;

/// <summary>
/// The install workload (short variant: a 4 MB slice of the kernel tree) on a fresh QED disk, a raw disk and a
/// QED overlay, under emu and beside it under qemu-system-i386, through <c>emu bench</c> as a user runs it.
/// The results folder must hold JSON, CSV and the plots; every QED image must pass qemu-img check and every
/// filesystem e2fsck -fn, checked here again with the peers on the kept images; and the files the guest
/// unpacked must be the tar's files, byte for byte (read back with debugfs).
/// </summary>
[TestFixture]
public class InstallWorkloadTests
{
    private static readonly string[] Configs = ["qed64k", "raw", "overlay"];
    private TestDir dir = null!;
    private Bench.Outcome bench = null!;

    [OneTimeSetUp]
    public void RunTheExperiment()
    {
        dir = new TestDir();
        bench = Bench.Run(dir["results"], "--short", "--workload", "install", "--configs", string.Join(",", Configs), "--keep-images");
    }

    [OneTimeTearDown]
    public void CleanUp() => dir.Dispose();

    private static IEnumerable<string> RunIds() =>
        Configs.SelectMany(c => new[] { $"{c}-writeback-emu", $"{c}-writeback-qemu" });

    [Test]
    public void EveryRunCompletedAndTheCommandSucceeded()
    {
        Assert.That(bench.Process.ExitCode, Is.EqualTo(0), bench.Process.ToString());
        Assert.That(bench.Runs.Select(r => r.GetProperty("id").GetString()), Is.EquivalentTo(RunIds()));
        int expectedFiles = Bench.TarFileCount(Repo.Guest("install-short.img"));
        foreach (var run in bench.Runs)
        {
            string id = run.GetProperty("id").GetString()!;
            var guest = run.GetProperty("guest");
            Assert.That(guest.GetProperty("status").GetInt32(), Is.EqualTo(0), $"{id}: the guest's workload status");
            Assert.That(run.GetProperty("exit_code").GetInt32(), Is.EqualTo(1), $"{id}: the guest powered off (exit status 1)");
            Assert.That(guest.GetProperty("info").GetProperty("files").GetString(), Is.EqualTo(expectedFiles.ToString()),
                $"{id}: files the guest counted after unpacking");
            Assert.That(guest.GetProperty("phases").GetProperty("extract").GetDouble(), Is.GreaterThan(0), $"{id}: guest-reported time");
        }
    }

    [Test]
    public void ResultsFolderHoldsJsonCsvAndPlots()
    {
        var csv = File.ReadAllLines(Path.Combine(bench.Dir, "results.csv"));
        Assert.That(csv, Has.Length.EqualTo(1 + RunIds().Count()));
        var header = csv[0].Split(',');
        Assert.That(header, Does.Contain("write_amplification").And.Contain("clusters_allocated").And.Contain("trace_hash"));
        foreach (var line in csv.Skip(1)) Assert.That(line.Split(','), Has.Length.EqualTo(header.Length), line);

        foreach (var png in new[] { "latency.png", "allocations.png", "write-amplification.png", "guest-time.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(bench.Dir, png));
            Assert.That(bytes.Length, Is.GreaterThan(5000), png);
            Assert.That(bytes[..8], Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), $"{png} is a PNG");
        }
        Assert.That(File.ReadAllText(Path.Combine(bench.Dir, "summary.md")), Does.Contain("| qed64k | writeback |"));
    }

    [Test]
    public void EngineCountersAndTracesDescribeTheRun()
    {
        foreach (var c in Configs)
        {
            var run = bench.Run($"{c}-writeback-emu");
            var trace = run.GetProperty("trace");
            long written = trace.GetProperty("bytes_written").GetInt64();
            Assert.That(written, Is.GreaterThan(4_000_000), $"{c}: the guest wrote the 4 MB tree");
            string traceFile = Path.Combine(bench.Dir, $"trace-{c}-writeback-emu.csv");
            var lines = File.ReadAllLines(traceFile);
            Assert.That(lines.Length - 1, Is.EqualTo(trace.GetProperty("requests").GetInt64()), $"{c}: one trace line per request");
            long csvWritten = lines.Skip(1).Select(l => l.Split(',')).Where(f => f[0] == "write").Sum(f => long.Parse(f[2]));
            Assert.That(csvWritten, Is.EqualTo(written), $"{c}: trace file and summary agree");
            if (c == "raw")
            {
                Assert.That(run.TryGetProperty("engine", out _), Is.False);
                continue;
            }
            var engine = run.GetProperty("engine");
            Assert.That(engine.GetProperty("guest_bytes_written").GetInt64(), Is.EqualTo(written), $"{c}: engine and device count the same bytes");
            Assert.That(engine.GetProperty("clusters_allocated").GetInt64(), Is.GreaterThan(0));
            Assert.That(engine.GetProperty("host_bytes_written").GetInt64(), Is.GreaterThanOrEqualTo(written));
            if (c == "overlay") Assert.That(engine.GetProperty("need_check_sets").GetInt64(), Is.EqualTo(0), "no need-check bit with a backing file");
            else Assert.That(engine.GetProperty("need_check_sets").GetInt64(), Is.GreaterThan(0));
            var last = lines[^1].Split(',');
            Assert.That(long.Parse(last[10]), Is.EqualTo(engine.GetProperty("clusters_allocated").GetInt64()),
                $"{c}: the last allocation sample is the final count");
        }
    }

    /// <summary>qemu-img check and e2fsck -fn, run here on the kept images (not only read from the results).</summary>
    [Test]
    public void EveryImagePassesQemuImgCheckAndE2fsck()
    {
        string e2fsck = Tool.Find("e2fsck", "e2fsprogs");
        foreach (var id in RunIds())
        {
            bool qed = !id.StartsWith("raw");
            string image = Path.Combine(bench.Dir, "images", id + (qed ? ".qed" : ".img"));
            string raw = image;
            if (qed)
            {
                var check = Tool.QemuImg("check", "-f", "qed", image);
                Assert.That(check.ExitCode, Is.EqualTo(0), $"qemu-img check {id}:\n{check}");
                Assert.That(check.Stdout, Does.Contain("No errors were found"), id);
                raw = dir[id + ".raw"];
                Tool.QemuImgOk("convert", "-f", "qed", "-O", "raw", image, raw);
            }
            var fsck = Tool.Run(e2fsck, ["-fn", raw]);
            Assert.That(fsck.ExitCode, Is.EqualTo(0), $"e2fsck -fn {id}:\n{fsck}");
            Assert.That(bench.Run(id).GetProperty("fsck").GetProperty("exit_code").GetInt32(), Is.EqualTo(0), $"{id}: results.json agrees");
        }
    }

    /// <summary>The unpacked tree on emu's QED disk equals the tar's content, file for file.</summary>
    [Test]
    public void UnpackedFilesAreTheTarsFiles()
    {
        string raw = dir["unpacked.raw"];
        Tool.QemuImgOk("convert", "-f", "qed", "-O", "raw", Path.Combine(bench.Dir, "images", "qed64k-writeback-emu.qed"), raw);
        string fromDisk = dir["from-disk"], fromTar = dir["from-tar"];
        Directory.CreateDirectory(fromDisk);
        Directory.CreateDirectory(fromTar);
        var dump = Tool.Run(Tool.Find("debugfs", "e2fsprogs"), ["-R", $"rdump /linux-source-6.1 {fromDisk}", raw]);
        Assert.That(dump.ExitCode, Is.EqualTo(0), dump.ToString());
        var untar = Tool.Run(Tool.Find("tar", "tar"), ["-xf", Repo.Guest("install-short.img"), "-C", fromTar]);
        Assert.That(untar.ExitCode, Is.EqualTo(0), untar.ToString());

        string tarRoot = Path.Combine(fromTar, "linux-source-6.1"), diskRoot = Path.Combine(fromDisk, "linux-source-6.1");
        var expected = Directory.GetFiles(tarRoot, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(tarRoot, f)).Order().ToList();
        var actual = Directory.GetFiles(diskRoot, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(diskRoot, f)).Order().ToList();
        Assert.That(actual, Is.EqualTo(expected));
        foreach (var f in expected)
            Assert.That(File.ReadAllBytes(Path.Combine(diskRoot, f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(tarRoot, f))), f);
    }
}
