using Qed.Tests.Support;
using static Qed.Tests.Support.Peers;

namespace Qed.Tests;

/// <summary>emu-img's commands beside qemu-img's: the same output and the same resulting images.</summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class ToolTests
{
    [TestCase("qed", "-o", "cluster_size=16384,table_size=2", "10M")]
    [TestCase("qed", "-o", "size=1G")]
    [TestCase("raw", "-o", "size=3M")]
    [TestCase("qed", "-b", "base.raw", "-F", "raw")]
    [TestCase("qed", "-b", "base.qed", "-F", "qed", "20M")]
    public void CreateWritesWhatQemuImgWrites(string format, params string[] rest)
    {
        using var ours = new TestDir();
        using var theirs = new TestDir();
        foreach (var dir in new[] { ours, theirs })
        {
            QemuImgOk("create", "-q", "-f", "raw", dir["base.raw"], "3M");
            QemuImgOk("create", "-q", "-f", "qed", dir["base.qed"], "7M");
        }
        string[] Args(TestDir d)
        {
            var size = rest.Length > 0 && char.IsDigit(rest[^1][0]) ? rest[^1] : null;
            var opts = size is null ? rest : rest[..^1];
            return ["create", "-f", format, .. opts, d["new.img"], .. size is null ? Array.Empty<string>() : [size]];
        }
        var a = Tool.Run(Args(ours));
        var b = QemuImg(Args(theirs));
        Assert.That(a.ExitCode, Is.EqualTo(0), a.ToString());
        Assert.That(b.ExitCode, Is.EqualTo(0), b.ToString());
        Assert.That(a.Stdout.Replace(ours.Path, "DIR"), Is.EqualTo(b.Stdout.Replace(theirs.Path, "DIR")));
        Assert.That(File.ReadAllBytes(ours["new.img"]), Is.EqualTo(File.ReadAllBytes(theirs["new.img"])), "file contents");
    }

    [Test]
    public void ConvertBothWays()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-q", "-f", "raw", dir["base.raw"], "6M");
        QemuIoOk("-f", "raw", "-c", "write -P 3 1M 2M", dir["base.raw"]);
        QemuImgOk("create", "-q", "-f", "qed", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw", dir["src.qed"], "9M");
        QemuIoOk("-c", "write -P 7 2500000 800000", "-c", "write -z 4M 64k", "-c", "write -P 9 8M 1000", dir["src.qed"]);

        Tool.EmuImgOk("convert", "-O", "raw", dir["src.qed"], dir["ours.raw"]);
        QemuImgOk("convert", "-O", "raw", dir["src.qed"], dir["theirs.raw"]);
        Assert.That(File.ReadAllBytes(dir["ours.raw"]), Is.EqualTo(File.ReadAllBytes(dir["theirs.raw"])));

        Tool.EmuImgOk("convert", "-p", "-O", "qed", "-o", "cluster_size=16384", dir["src.qed"], dir["ours.qed"]);
        Assert.That(QemuImg("check", dir["ours.qed"]).ExitCode, Is.EqualTo(0));
        Assert.That(QemuImg("compare", dir["src.qed"], dir["ours.qed"]).ExitCode, Is.EqualTo(0));
        Assert.That(QemuImgOk("info", dir["ours.qed"]), Does.Contain("cluster_size: 16384"));
        // Zero runs were left unallocated: the copy is smaller than a full one.
        Assert.That(new FileInfo(dir["ours.qed"]).Length, Is.LessThan(5L << 20));
    }

    [Test]
    public void CompareSaysWhatQemuImgSays()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-q", "-f", "raw", dir["a.raw"], "4M");
        QemuImgOk("create", "-q", "-f", "qed", dir["b.qed"], "4M");
        QemuImgOk("create", "-q", "-f", "qed", dir["c.qed"], "6M");
        QemuIoOk("-f", "raw", "-c", "write -P 5 1M 64k", dir["a.raw"]);
        QemuIoOk("-c", "write -P 5 1M 64k", dir["b.qed"]);
        QemuIoOk("-c", "write -P 5 1M 64k", dir["c.qed"]);
        void Same(params string[] args)
        {
            var ours = Tool.Run(args);
            var theirs = QemuImg(args);
            Assert.That((ours.ExitCode, ours.Stdout), Is.EqualTo((theirs.ExitCode, theirs.Stdout)), string.Join(' ', args));
        }
        Same("compare", dir["a.raw"], dir["b.qed"]);
        Same("compare", dir["b.qed"], dir["c.qed"]);
        Same("compare", "-s", dir["b.qed"], dir["c.qed"]);
        Same("compare", "-s", dir["a.raw"], dir["b.qed"]);
        QemuIoOk("-c", "write -P 9 " + ((1 << 20) + 700) + " 1", dir["b.qed"]);
        Same("compare", dir["a.raw"], dir["b.qed"]);
        QemuIoOk("-c", "write -P 9 " + ((5 << 20) + 1000) + " 1", dir["c.qed"]);
        Same("compare", dir["b.qed"], dir["c.qed"]);
        Assert.That(Tool.Run("compare", dir["a.raw"], dir["missing.qed"]).ExitCode, Is.EqualTo(2));
    }

    [Test]
    public void CommitWritesTheSameBaseAsQemuImg()
    {
        using var ours = new TestDir();
        using var theirs = new TestDir();
        foreach (var d in new[] { ours, theirs })
        {
            QemuImgOk("create", "-q", "-f", "qed", "-o", "cluster_size=4096", d["base.qed"], "4M");
            QemuIoOk("-c", "write -P 1 0 4M", d["base.qed"]);
            QemuImgOk("create", "-q", "-f", "qed", "-b", "base.qed", "-F", "qed", d["top.qed"], "6M");
            QemuIoOk("-c", "write -P 2 100000 300000", "-c", "write -z 2M 64k", "-c", "write -P 3 5M 4096", d["top.qed"]);
        }
        var r = Tool.Run("commit", ours["top.qed"]);
        Assert.That((r.ExitCode, r.Stdout), Is.EqualTo((0, "Image committed.\n")), r.ToString());
        QemuImgOk("commit", theirs["top.qed"]);
        Images.AssertSameBytes(Images.QemuReadAll(theirs["base.qed"], theirs.Path), Images.QemuReadAll(ours["base.qed"], ours.Path), "committed base");
        Assert.That(QemuImg("check", ours["base.qed"]).ExitCode, Is.EqualTo(0));
        Assert.That(QemuImgOk("info", ours["base.qed"]), Does.Contain("(6291456 bytes)"), "the base grows to the top's size");
    }

    [Test]
    public void SafeRebaseKeepsTheGuestViewAndUnsafeOnlyRenames()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-q", "-f", "raw", dir["old.raw"], "4M");
        QemuIoOk("-f", "raw", "-c", "write -P 1 0 4M", dir["old.raw"]);
        QemuImgOk("create", "-q", "-f", "raw", dir["new.raw"], "2M");
        QemuIoOk("-f", "raw", "-c", "write -P 1 0 1M", "-c", "write -P 4 1M 4096", dir["new.raw"]);
        QemuImgOk("create", "-q", "-f", "qed", "-b", "old.raw", "-F", "raw", dir["top.qed"], "4M");
        QemuIoOk("-c", "write -P 2 3M 100", dir["top.qed"]);
        File.Copy(dir["top.qed"], dir["u-ours.qed"]);
        File.Copy(dir["top.qed"], dir["u-theirs.qed"]);
        var before = Images.QemuReadAll(dir["top.qed"], dir.Path);

        Tool.EmuImgOk("rebase", "-b", "new.raw", "-F", "raw", dir["top.qed"]);
        Assert.That(QemuImgOk("info", dir["top.qed"]), Does.Contain("backing file: new.raw"));
        Images.AssertSameBytes(before, Images.QemuReadAll(dir["top.qed"], dir.Path), "guest view after a safe rebase");
        Assert.That(QemuImg("check", dir["top.qed"]).ExitCode, Is.EqualTo(0));

        // Removing the backing file keeps the view too: everything the old chain showed is copied in.
        Tool.EmuImgOk("rebase", "-b", "", dir["top.qed"]);
        Assert.That(QemuImgOk("info", dir["top.qed"]), Does.Not.Contain("backing file"));
        Images.AssertSameBytes(before, Images.QemuReadAll(dir["top.qed"], dir.Path), "guest view without a backing file");

        Tool.EmuImgOk("rebase", "-u", "-b", "new.raw", "-F", "raw", dir["u-ours.qed"]);
        QemuImgOk("rebase", "-u", "-b", "new.raw", "-F", "raw", dir["u-theirs.qed"]);
        Assert.That(File.ReadAllBytes(dir["u-ours.qed"]), Is.EqualTo(File.ReadAllBytes(dir["u-theirs.qed"])), "unsafe rebase rewrites the header alone");
    }

    [Test]
    public void ResizeGrowsLikeQemuImg()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-q", "-f", "qed", dir["r.qed"], "1M");
        QemuImgOk("create", "-q", "-f", "raw", dir["r.raw"], "1M");
        Assert.That(Tool.EmuImgOk("resize", dir["r.qed"], "+1M"), Is.EqualTo("Image resized.\n"));
        Assert.That(Tool.EmuImgOk("resize", dir["r.qed"], "3M"), Is.EqualTo("Image resized.\n"));
        Assert.That(QemuImgOk("info", dir["r.qed"]), Does.Contain("virtual size: 3 MiB (3145728 bytes)"));
        Assert.That(QemuImg("check", dir["r.qed"]).ExitCode, Is.EqualTo(0));
        Tool.EmuImgOk("resize", "-f", "raw", "--shrink", dir["r.raw"], "512K");
        Assert.That(new FileInfo(dir["r.raw"]).Length, Is.EqualTo(512 << 10));
    }

    [Test]
    public void BenchPrintsQemuImgsLines()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-q", "-f", "qed", dir["b.qed"], "64M");
        string[] args = ["bench", "-w", "-c", "2000", "-d", "16", "-s", "4k", "-S", "64k", "--flush-interval=500", dir["b.qed"]];
        var ours = Tool.EmuImgOk(args).Split('\n');
        var theirs = QemuImgOk(args).Split('\n');
        Assert.That(ours[0], Is.EqualTo(theirs[0]));
        Assert.That(ours[1], Is.EqualTo(theirs[1]));
        Assert.That(ours[2], Does.Match(@"^Run completed in \d+\.\d{3} seconds\.$"));
        Assert.That(QemuImg("check", dir["b.qed"]).ExitCode, Is.EqualTo(0));
        var ends = System.Text.RegularExpressions.Regex.Matches(QemuImgOk("map", "--output=json", dir["b.qed"]),
                @"""start"": (\d+), ""length"": (\d+), ""depth"": 0, ""present"": true, ""zero"": false, ""data"": true")
            .Select(m => long.Parse(m.Groups[1].Value) + long.Parse(m.Groups[2].Value));
        Assert.That(ends.Max(), Is.EqualTo(64L << 20), "2000 writes 64 KiB apart wrap at the end of the 64 MiB image, as qemu-img's do");
    }
}
