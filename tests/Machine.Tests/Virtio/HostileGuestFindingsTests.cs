using Emulator.Virtio;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Virtio;

/// <summary>Behaviour the hostile-guest fuzzer's oracle (written from QEMU's virtio code) disagreed with, kept as tests of the fix.</summary>
public class HostileGuestFindingsTests
{
    private const ulong AllFeatures = ~0UL & ~(1UL << 30);

    /// <summary>
    /// A request in flight when the driver breaks the device completes on the host later: QEMU writes its
    /// status byte but puts nothing on the used ring and raises no interrupt (virtqueue_fill and
    /// virtqueue_flush do nothing on a broken device). The device used to publish it.
    /// </summary>
    [TestCase(true)]
    [TestCase(false)]
    public void RequestFinishingAfterTheDeviceBrokeIsNotPublished(bool modern)
    {
        using var rig = new VirtioRig();
        var d = rig.Driver;
        d.MapBars();
        if (modern) Assert.That(d.InitModern(AllFeatures), Is.True);
        else d.InitLegacy(AllFeatures);
        rig.Disk.Data[0] = 0x42;
        rig.Disk.Hold();
        var r = d.Read(0, 512);
        Assert.That(rig.Blk.Engine.InFlight, Is.EqualTo(1));
        d.Publish((ushort)(d.QueueSize + 7));   // head out of range: the device goes broken
        d.Notify();
        Assert.That(rig.Blk.Broken, Is.True);
        d.ReadIsr();                            // clear the configuration interrupt
        rig.Disk.Release();
        rig.Pump(() => rig.Blk.Engine.InFlight == 0, "the held read to finish on the host");
        Assert.That(d.UsedIdx, Is.EqualTo(0), "nothing is published on a broken device");
        Assert.That(d.ReadIsr() & 1, Is.Zero, "no used-buffer interrupt");
        Assert.That(d.StatusOf(r), Is.EqualTo(VirtioBlkRequest.StatusOk), "the status byte is written, as QEMU writes it");
        // After a reset the device works again.
        if (modern) Assert.That(d.InitModern(AllFeatures), Is.True);
        else d.InitLegacy(AllFeatures);
        var again = d.Read(0, 512);
        rig.Pump(() => { d.ReapUsed(); return again.Done; });
        Assert.That(d.DataOf(again)[0], Is.EqualTo(0x42));
    }
}
