using Machine.Tests.Virtio.Fuzz;
using NUnit.Framework;

namespace Machine.Tests.Virtio;

/// <summary>
/// The short mode of the hostile-guest fuzzer (the long one is `fuzz virtio`, see qed/README.md): the
/// virtio-blk device over the QED engine (with and without a backing file, read-only), and over a raw
/// image, with requests completing at once or later, driven through its rings by a guest that sends
/// every kind of request and every kind of malformed chain. The host never throws or hangs, every
/// request gets the status QEMU would give it, reads return what was written, the device goes broken
/// exactly when QEMU's would and works again after a reset, and the image file is never touched
/// outside its bounds.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class HostileGuestFuzzTests
{
    [TestCase(FuzzDisk.Qed, 0, 1)]
    [TestCase(FuzzDisk.Qed, 50, 2)]
    [TestCase(FuzzDisk.QedOverBacking, 30, 3)]
    [TestCase(FuzzDisk.QedReadOnly, 0, 4)]
    [TestCase(FuzzDisk.Raw, 50, 5)]
    public async Task HostileRingsNeverHurtTheHostOrTheData(FuzzDisk disk, int asyncPercent, int seed)
    {
        var stats = await HostileGuestFuzzer.RunAsync(new HostileGuestOptions { Seed = seed, Batches = 600, Disk = disk, AsyncPercent = asyncPercent });
        TestContext.Out.WriteLine(stats);
        Assert.That(stats.Failures, Is.Empty, string.Join("\n", stats.Failures.Take(3)));
        Assert.That(stats.BrokenStates, Is.GreaterThan(20), "hostile chains broke the device (and it recovered)");
        Assert.That(stats.Ok, Is.GreaterThan(500), "well-formed requests completed");
        Assert.That(stats.IoErr + stats.Unsupp, Is.GreaterThan(50), "bad requests got errors");
        Assert.That(stats.BytesVerified, Is.GreaterThan(1 << 20), "data was read back against the model");
    }
}
