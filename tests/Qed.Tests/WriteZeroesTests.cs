using Qed.Tests.Support;
using static Qed.Tests.Support.Peers;

namespace Qed.Tests;

/// <summary>
/// Write-zeroes on images without a backing file: whole unallocated clusters become zero clusters
/// (L2 entry 1) as QEMU's bdrv_qed_co_pwrite_zeroes makes them, so qemu-img map reports the same
/// extents for an image written here and for a copy written by qemu-io with the same commands.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class WriteZeroesTests
{
    /// <summary>(offset, length) pairs: whole clusters, a partial head and tail, a range that needs a new
    /// L2 table (table_size 2 with 4 KiB clusters: one table covers 4 MiB), and one over allocated data.</summary>
    private static readonly (long Offset, long Length)[] Zeroes =
    [
        (64 << 10, 128 << 10),
        (1000, 70000),
        (3 << 20, 5 << 20),
        (10 << 20, 64 << 10),
    ];

    [TestCase(65536u, 4u)]
    [TestCase(4096u, 2u)]
    public async Task WriteZeroesMapsAsQemusZeroClusters(uint cluster, uint table)
    {
        using var dir = new TestDir();
        foreach (var name in new[] { "qemu.qed", "here.qed" })
            QemuImgOk("create", "-f", "qed", "-o", $"cluster_size={cluster},table_size={table}", dir[name], "16M");

        // Some data first, so one zeroed range covers allocated clusters (zeros written in place).
        var cmds = new List<string> { "-c", "write -P 0x5a 10M 128k" };
        foreach (var (off, len) in Zeroes) cmds.AddRange(["-c", $"write -z {off} {len}"]);
        QemuIoOk([.. cmds, dir["qemu.qed"]]);

        await using (var image = await QedImage.OpenAsync(dir["here.qed"]))
        {
            await image.WriteAsync(10 << 20, Enumerable.Repeat((byte)0x5a, 128 << 10).ToArray());
            foreach (var (off, len) in Zeroes) await image.WriteZeroesAsync(off, len);
            var st = await image.GetBlockStatusAsync(4 << 20, cluster);
            Assert.That(st.Kind, Is.EqualTo(BlockStatusKind.Zero), "a whole unallocated cluster became a zero cluster");
        }

        string Map(string name) => QemuImgOk("map", "--output=json", "-f", "qed", dir[name]);
        var expected = Map("qemu.qed");
        Assert.That(expected, Does.Contain("\"zero\": true, \"data\": false"), "qemu-io made zero clusters (the reference)");
        Assert.That(Map("here.qed"), Is.EqualTo(expected), "qemu-img map of the image written here");
        Assert.That(QemuImg("check", dir["here.qed"]).ExitCode, Is.EqualTo(0), "qemu-img check");
        Images.AssertSameBytes(Images.QemuReadAll(dir["qemu.qed"], dir.Path), Images.QemuReadAll(dir["here.qed"], dir.Path),
            "guest-visible contents");
    }

    [Test]
    public async Task ZeroClustersWithoutABackingFileSurviveCloseAndReopen()
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "qed", dir["z.qed"], "8M");
        await using (var image = await QedImage.OpenAsync(dir["z.qed"]))
        {
            await image.WriteZeroesAsync(0, 8 << 20);
            Assert.That(image.IsDirty, Is.True, "zero entries are deferred under the need-check bit, as QEMU sets it");
        }
        await using (var again = await QedImage.OpenAsync(dir["z.qed"], new QedOpenOptions { ReadOnly = true }))
        {
            Assert.That(again.IsDirty, Is.False, "closing cleared the need-check bit");
            var st = await again.GetBlockStatusAsync(0, 8 << 20);
            Assert.That((st.Kind, st.Length), Is.EqualTo((BlockStatusKind.Zero, 8L << 20)));
            Assert.That(again.Statistics.ClustersAllocated, Is.EqualTo(0));
        }
        Assert.That(QemuImg("check", dir["z.qed"]).ExitCode, Is.EqualTo(0));
    }
}
