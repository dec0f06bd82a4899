using Qed.Tests.Support;
using static Qed.Tests.Support.Peers;

namespace Qed.Tests;

/// <summary>
/// Must-show 4: images with injected leaks, invalid offsets and double references are reported as
/// qemu-img reports them, and after emu-img check -r all, qemu-img check finds them clean or reports
/// only what QEMU's own repair leaves too.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class CheckRepairTests
{
    /// <summary>An image with data in three clusters of one L2 table (data at clusters 5, 10, 11 of the file).</summary>
    private static ImagePatcher MakeImage(TestDir dir, string name = "img.qed")
    {
        string path = dir[name];
        QemuImgOk("create", "-f", "qed", path, "64M");
        QemuIoOk("-c", "write -P 1 0 64k", "-c", "write -P 2 1M 64k", "-c", "write -P 3 2M 64k", "-c", "write -P 4 40M 64k", path);
        return new ImagePatcher(path);
    }

    /// <summary>The same report, word for word and exit code, from both tools (no repair: the file is not touched).</summary>
    private static void AssertSameReport(string path)
    {
        foreach (var args in new[] { new[] { "check", path }, ["check", "--output=json", path] })
        {
            var theirs = QemuImg(args);
            var ours = Tool.Run(args);
            Assert.That(ours.Stdout, Is.EqualTo(theirs.Stdout), $"report of {string.Join(' ', args)}");
            Assert.That(ours.ExitCode, Is.EqualTo(theirs.ExitCode), $"exit code of {string.Join(' ', args)}\nours: {ours}\ntheirs: {theirs}");
        }
    }

    /// <summary>
    /// Repairs one copy here and one with qemu-img; then qemu-img check must find ours no worse than
    /// its own (same corruptions left, no more leaks) and the two copies must hold the same data.
    /// </summary>
    private static (RunResult Ours, RunResult Theirs) RepairBothWays(TestDir dir, string path)
    {
        File.Copy(path, dir["ours.qed"], true);
        File.Copy(path, dir["theirs.qed"], true);
        var repairOurs = Tool.Run("check", "-r", "all", dir["ours.qed"]);
        Assert.That(repairOurs.Stderr, Is.Empty.Or.Not.Contain("internal error"), repairOurs.ToString());
        QemuImg("check", "-r", "all", dir["theirs.qed"]);
        var ours = QemuImg("check", "--output=json", dir["ours.qed"]);
        var theirs = QemuImg("check", "--output=json", dir["theirs.qed"]);
        long Field(RunResult r, string key)
        {
            var m = System.Text.RegularExpressions.Regex.Match(r.Stdout, $"\"{key}\": (\\d+)");
            return m.Success ? long.Parse(m.Groups[1].Value) : 0;
        }
        Assert.That(Field(ours, "corruptions"), Is.EqualTo(Field(theirs, "corruptions")), $"corruptions left\nours: {ours}\ntheirs: {theirs}");
        Assert.That(Field(ours, "leaks"), Is.LessThanOrEqualTo(Field(theirs, "leaks")), $"leaks left\nours: {ours}\ntheirs: {theirs}");
        if (Field(ours, "corruptions") == 0)
        {
            var cmp = QemuImg("compare", "-f", "qed", "-F", "qed", dir["ours.qed"], dir["theirs.qed"]);
            Assert.That(cmp.ExitCode, Is.EqualTo(0), $"repaired images differ:\n{cmp}");
        }
        return (ours, theirs);
    }

    [Test]
    public void TrailingLeakIsReportedThenGivenBack()
    {
        using var dir = new TestDir();
        var img = MakeImage(dir);
        img.AppendClusters(3);
        AssertSameReport(dir["img.qed"]);
        var (ours, theirs) = RepairBothWays(dir, dir["img.qed"]);
        Assert.That(ours.ExitCode, Is.EqualTo(0), $"after our repair qemu-img check should be clean:\n{ours}");
        Assert.That(theirs.ExitCode, Is.EqualTo(3), "QEMU's repair does not reclaim leaks");
    }

    [Test]
    public void LeakInTheMiddleIsReportedAndLeftAsQemuLeavesIt()
    {
        using var dir = new TestDir();
        var img = MakeImage(dir);
        img.SetL2(0, 16, 0);   // the cluster holding guest 1M is now referenced by nothing
        AssertSameReport(dir["img.qed"]);
        var (ours, _) = RepairBothWays(dir, dir["img.qed"]);
        Assert.That(ours.ExitCode, Is.EqualTo(3), ours.ToString());
    }

    [TestCase(0x7fff_0000UL, TestName = "L2 entry past the end of the file")]
    [TestCase(0x5_0200UL, TestName = "L2 entry not cluster aligned")]
    [TestCase(0x8000UL, TestName = "L2 entry inside the header cluster")]
    public void InvalidClusterOffsetIsRepaired(ulong bad)
    {
        using var dir = new TestDir();
        var img = MakeImage(dir);
        img.SetL2(0, 32, bad);
        AssertSameReport(dir["img.qed"]);
        var (ours, _) = RepairBothWays(dir, dir["img.qed"]);
        Assert.That(ours.Stdout, Does.Not.Contain("\"corruptions\""), ours.ToString());
    }

    [Test]
    public void InvalidL2TableOffsetIsRepaired()
    {
        using var dir = new TestDir();
        var img = MakeImage(dir);
        img.SetL1(2, 0x12345);   // misaligned table offset
        AssertSameReport(dir["img.qed"]);
        var (ours, _) = RepairBothWays(dir, dir["img.qed"]);
        Assert.That(ours.Stdout, Does.Not.Contain("\"corruptions\""), ours.ToString());
    }

    [Test]
    public void DoubleReferenceIsReportedAndCannotBeRepaired()
    {
        using var dir = new TestDir();
        var img = MakeImage(dir);
        img.SetL2(0, 16, img.L2(0, 0));   // guest 1M now shares guest 0's cluster
        AssertSameReport(dir["img.qed"]);
        var (ours, theirs) = RepairBothWays(dir, dir["img.qed"]);
        Assert.That(ours.ExitCode, Is.EqualTo(2), "a cluster referenced twice cannot be repaired (QEMU cannot either)");
        Assert.That(theirs.ExitCode, Is.EqualTo(2));
    }

    [Test]
    public void L2TableOverlappingTheL1TableIsReported()
    {
        using var dir = new TestDir();
        var img = MakeImage(dir);
        img.SetL1(0, (ulong)img.L1Offset);
        AssertSameReport(dir["img.qed"]);
        RepairBothWays(dir, dir["img.qed"]);
        // Reading through the bad table is refused instead of treating L1 entries as data offsets.
        var conv = Tool.Run("convert", "-O", "raw", dir["img.qed"], dir["out.raw"]);
        Assert.That(conv.ExitCode, Is.Not.EqualTo(0));
        Assert.That(conv.Stderr, Does.Contain("invalid L2 table offset"));
    }

    [Test]
    public async Task DirtyImageIsRepairedOnReadWriteOpen()
    {
        using var dir = new TestDir();
        var img = MakeImage(dir);
        img.SetL2(0, 32, 0x7fff_0000UL);
        img.SetFeatures(img.Header.Features | QedFeatures.NeedCheck);
        await using (var image = await QedImage.OpenAsync(dir["img.qed"]))
        {
            Assert.That(image.IsDirty, Is.False, "a clean repair clears the need-check bit");
            var buf = new byte[65536];
            await image.ReadAsync(2 << 20, buf);   // the repaired entry now reads as unallocated
            Assert.That(buf.AsSpan().IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
        }
        var check = QemuImg("check", dir["img.qed"]);
        Assert.That(check.Stdout, Does.Not.Contain("errors were found"), check.ToString());
    }

    /// <summary>QEMU's spurious-leak count (see QemuCheckBug) checked against QEMU itself on an image only QEMU wrote.</summary>
    [Test]
    public void QemuSpuriousLeaksArePredictedAndNotReportedHere()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "qed", "-o", "cluster_size=4096", dir["s.qed"], "64M");
        QemuIoOk("-c", "write -P 1 0 40M", dir["s.qed"]);
        long predicted = QemuCheckBug.SpuriousLeaks(new FileInfo(dir["s.qed"]).Length, 4096);
        Assert.That(predicted, Is.GreaterThan(0));
        var theirs = QemuImg("check", dir["s.qed"]);
        Assert.That(theirs.Stdout, Does.StartWith($"\n{predicted} leaked clusters were found"), theirs.ToString());
        var ours = Tool.Run("check", dir["s.qed"]);
        Assert.That(ours.ExitCode, Is.EqualTo(0), ours.ToString());
        Assert.That(ours.Stdout, Does.StartWith("No errors were found on the image."));
    }
}
