using Qed.Tests.Support;
using static Qed.Tests.Support.Peers;
using static Qed.Tests.Support.Tool;

namespace Qed.Tests;

/// <summary>
/// Must-show 3: emu-img map --output=json and info --output=json print what qemu-img prints on the
/// same images, byte for byte (and the human forms too).
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class MapInfoAgreementTests
{
    private static void AssertSameOutput(params string[] args)
    {
        var theirs = QemuImg(args);
        var ours = Tool.Run(args);
        Assert.That(theirs.ExitCode, Is.EqualTo(0), $"qemu-img {string.Join(' ', args)}:\n{theirs}");
        Assert.That(ours.ExitCode, Is.EqualTo(0), $"emu-img {string.Join(' ', args)}:\n{ours}");
        Assert.That(ours.Stdout, Is.EqualTo(theirs.Stdout), $"emu-img {string.Join(' ', args)} differs from qemu-img");
    }

    private static void AssertAllAgree(string image)
    {
        AssertSameOutput("map", "--output=json", image);
        AssertSameOutput("map", image);
        AssertSameOutput("info", "--output=json", image);
        AssertSameOutput("info", image);
        AssertSameOutput("info", "--backing-chain", "--output=json", image);
        AssertSameOutput("info", "--backing-chain", image);
    }

    [Test]
    public void ImagesMadeByQemu()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "qed", dir["empty.qed"], "1G");
        AssertAllAgree(dir["empty.qed"]);

        QemuImgOk("create", "-f", "qed", "-o", "cluster_size=4096,table_size=2", dir["small.qed"], "40M");
        QemuIoOk("-c", "write -P 1 0 100k", "-c", "write -P 2 5M 1M", "-c", "write -z 8M 64k", "-c", "write -P 3 30000000 9000", dir["small.qed"]);
        AssertAllAgree(dir["small.qed"]);

        QemuImgOk("create", "-f", "raw", dir["base.raw"], "10M");
        QemuIoOk("-f", "raw", "-c", "write -P 9 1M 3M", dir["base.raw"]);
        QemuImgOk("create", "-f", "qed", "-b", "base.raw", "-F", "raw", dir["mid.qed"], "20M");
        QemuIoOk("-c", "write -P 4 2M 128k", "-c", "write -z 6M 192k", dir["mid.qed"]);
        QemuImgOk("create", "-f", "qed", "-o", "cluster_size=16384", "-b", "mid.qed", "-F", "qed", dir["top.qed"], "24M");
        QemuIoOk("-c", "write -P 5 3M 40k", "-c", "write -P 6 22M 100k", dir["top.qed"]);
        AssertAllAgree(dir["top.qed"]);
        AssertAllAgree(dir["base.raw"]);
    }

    [Test]
    public async Task ImagesMadeHere()
    {
        using var dir = new TestDir();
        await QedImage.CreateAsync(dir["a.qed"], new QedCreateOptions { Size = 48 << 20, ClusterSize = 8192, TableSize = 4 });
        var work = new Workload(71, 8192, new byte[48 << 20]);
        await using (var image = await QedImage.OpenAsync(dir["a.qed"]))
            await work.RunAsync(image, 15, 10);
        AssertAllAgree(dir["a.qed"]);

        var data = new byte[3 << 20];
        new Random(72).NextBytes(data);
        File.WriteAllBytes(dir["b.raw"], data);
        await QedImage.CreateAsync(dir["c.qed"], new QedCreateOptions { Size = 8 << 20, BackingFile = "b.raw", BackingFormat = "raw" });
        var work2 = new Workload(73, 65536, new byte[8 << 20]) { ZeroPercent = 40 };
        await using (var image = await QedImage.OpenAsync(dir["c.qed"]))
            await work2.RunAsync(image, 10, 6);
        AssertAllAgree(dir["c.qed"]);
    }

    [Test]
    public void MapWindowOptionsAgree()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "qed", dir["w.qed"], "16M");
        QemuIoOk("-c", "write -P 1 1M 3M", "-c", "write -z 8M 1M", dir["w.qed"]);
        AssertSameOutput("map", "--output=json", "--start-offset=2M", "--max-length=7M", dir["w.qed"]);
        AssertSameOutput("map", "--start-offset=1536k", dir["w.qed"]);
    }

    /// <summary>
    /// QEMU 7.2 reports "dirty-flag": false for a dirty image (a read-only open clears the bit in memory
    /// before info asks); this engine reports the header's bit. Both outputs otherwise agree.
    /// </summary>
    [Test]
    public void DirtyFlagIsReportedAsStored()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "qed", dir["d.qed"], "16M");
        using (var f = File.OpenWrite(dir["d.qed"]))
        {
            f.Position = 16;
            f.WriteByte((byte)QedFeatures.NeedCheck);
        }
        var theirs = QemuImgOk("info", "--output=json", dir["d.qed"]);
        var ours = EmuImgOk("info", "--output=json", dir["d.qed"]);
        Assert.That(theirs, Does.Contain("\"dirty-flag\": false"));
        Assert.That(ours, Is.EqualTo(theirs.Replace("\"dirty-flag\": false", "\"dirty-flag\": true")));
        Assert.That(EmuImgOk("info", dir["d.qed"]), Does.Contain("cleanly shut down: no\n"));
    }
}
