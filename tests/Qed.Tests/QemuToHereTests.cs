using Qed.Tests.Support;
using static Qed.Tests.Support.Peers;

namespace Qed.Tests;

/// <summary>
/// Must-show 1: images made by qemu-img and written by qemu-io read back here byte for byte as
/// qemu-img convert -O raw gives them, over the whole virtual disk.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class QemuToHereTests
{
    /// <summary>qemu-io commands: patterned writes at scattered, unaligned offsets, and write -z.</summary>
    private static List<string> RandomQemuIoCommands(Random rng, long size, int clusterSize, int count)
    {
        var cmds = new List<string>();
        for (int i = 0; i < count; i++)
        {
            int kind = rng.Next(10);
            if (kind < 7)
            {
                long len = rng.Next(1, 3 * clusterSize);
                long off = rng.NextInt64(0, size - len);
                cmds.Add($"write -P 0x{rng.Next(1, 256):x} {off} {len}");
            }
            else
            {
                // write -z on whole clusters makes QED zero clusters (entry 1).
                int clusters = rng.Next(1, 4);
                long off = rng.NextInt64(0, size / clusterSize - clusters) * clusterSize;
                cmds.Add($"write -z {off} {clusters * clusterSize}");
            }
        }
        return cmds;
    }

    private static void QemuIoScript(string image, string? format, IEnumerable<string> cmds)
    {
        var args = new List<string>();
        if (format is not null) args.AddRange(["-f", format]);
        foreach (var c in cmds) args.AddRange(["-c", c]);
        args.Add(image);
        QemuIoOk([.. args]);
    }

    [TestCase(65536, 4, 64 << 20, 1)]
    [TestCase(4096, 16, 48 << 20, 2)]
    [TestCase(4096, 2, 16 << 20, 3)]
    [TestCase(16384, 8, 32 << 20, 4)]
    [TestCase(1 << 20, 1 << 1, 96 << 20, 5)]
    public async Task ImageWrittenByQemuReadsTheSameHere(int clusterSize, int tableSize, long size, int seed)
    {
        using var dir = new TestDir();
        string img = dir["q.qed"];
        QemuImgOk("create", "-f", "qed", "-o", $"cluster_size={clusterSize},table_size={tableSize}", img, size.ToString());
        var rng = new Random(seed);
        QemuIoScript(img, "qed", RandomQemuIoCommands(rng, size, clusterSize, 60));

        var expected = Images.QemuReadAll(img, dir.Path);
        var actual = await Images.ReadAllAsync(img);
        Images.AssertSameBytes(expected, actual, $"cluster_size={clusterSize} table_size={tableSize} seed={seed}");
    }

    [Test]
    public async Task RawBackingSmallerThanTheImage()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "raw", dir["base.raw"], "5M");
        QemuIoScript(dir["base.raw"], "raw", ["write -P 0x11 0 5M", "write -P 0x22 1234567 70000"]);
        // The backing name is relative: it resolves against the image's folder, not the working directory.
        QemuImgOk("create", "-f", "qed", "-b", "base.raw", "-F", "raw", dir["top.qed"], "24M");
        QemuIoScript(dir["top.qed"], "qed", RandomQemuIoCommands(new Random(7), 24 << 20, 65536, 40));

        var expected = Images.QemuReadAll(dir["top.qed"], dir.Path);
        Images.AssertSameBytes(expected, await Images.ReadAllAsync(dir["top.qed"]), "raw backing chain");
    }

    [Test]
    public async Task ThreeLevelQedChainWithDifferentGeometries()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "qed", "-o", "cluster_size=4096,table_size=4", dir["base.qed"], "20M");
        QemuIoScript(dir["base.qed"], "qed", RandomQemuIoCommands(new Random(11), 20 << 20, 4096, 40));
        QemuImgOk("create", "-f", "qed", "-o", "cluster_size=65536", "-b", "base.qed", "-F", "qed", dir["mid.qed"], "32M");
        QemuIoScript(dir["mid.qed"], "qed", RandomQemuIoCommands(new Random(12), 32 << 20, 65536, 40));
        QemuImgOk("create", "-f", "qed", "-o", "cluster_size=16384,table_size=8", "-b", "mid.qed", "-F", "qed", dir["top.qed"], "40M");
        QemuIoScript(dir["top.qed"], "qed", RandomQemuIoCommands(new Random(13), 40 << 20, 16384, 40));

        var expected = Images.QemuReadAll(dir["top.qed"], dir.Path);
        Images.AssertSameBytes(expected, await Images.ReadAllAsync(dir["top.qed"]), "qed chain of three");
    }

    [Test]
    public async Task ZeroClustersHideTheBackingFile()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "raw", dir["base.raw"], "8M");
        QemuIoScript(dir["base.raw"], "raw", ["write -P 0x5a 0 8M"]);
        QemuImgOk("create", "-f", "qed", "-b", "base.raw", "-F", "raw", dir["top.qed"], "8M");
        QemuIoScript(dir["top.qed"], "qed", ["write -z 1M 256k", "write -z 0 64k", "write -P 3 4M 100"]);
        var map = QemuImgOk("map", "--output=json", dir["top.qed"]);
        Assert.That(map, Does.Contain("\"start\": 1048576, \"length\": 262144, \"depth\": 0, \"present\": true, \"zero\": true, \"data\": false"),
            "qemu-io write -z should have made zero clusters");

        var actual = await Images.ReadAllAsync(dir["top.qed"]);
        Images.AssertSameBytes(Images.QemuReadAll(dir["top.qed"], dir.Path), actual, "zero clusters over a backing file");
        Assert.That(actual.AsSpan(1 << 20, 256 << 10).IndexOfAnyExcept((byte)0), Is.EqualTo(-1));
    }
}
