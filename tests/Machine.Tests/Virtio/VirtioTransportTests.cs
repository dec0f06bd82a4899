using Emulator.Virtio;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Virtio;

public class VirtioTransportTests
{
    private const ulong AllFeatures = ~0UL & ~(1UL << 30);
    private VirtioRig rig = null!;
    private MiniVirtioDriver d = null!;

    [SetUp]
    public void SetUp()
    {
        rig = new VirtioRig();
        d = rig.Driver;
        d.MapBars();
    }

    [TearDown]
    public void TearDown() => rig.Dispose();

    [Test]
    public void ModernFeaturesOkIsRefusedWithoutVersion1()
    {
        Assert.That(d.InitModern(AllFeatures & ~(1UL << 32)), Is.False);
        Assert.That(d.Status & MiniVirtioDriver.FeaturesOk, Is.Zero);
    }

    [Test]
    public void FeaturesCannotChangeAfterFeaturesOk()
    {
        Assert.That(d.InitModern(1UL << 32 | 1UL << 9), Is.True);
        d.Common(8, 4, 0);
        d.Common(12, 4, 0xFFFF_FFFF);
        Assert.That(rig.Blk.DriverFeatures, Is.EqualTo(1UL << 32 | 1UL << 9));
    }

    [Test]
    public void UnofferedFeatureBitsAreDropped()
    {
        d.Status = 0;
        d.Status = MiniVirtioDriver.Ack | MiniVirtioDriver.Driver;
        d.Common(8, 4, 1);
        d.Common(12, 4, 0xFFFF_FFFF);
        Assert.That(rig.Blk.DriverFeatures >> 32, Is.EqualTo(rig.Blk.ModernFeatures >> 32));
    }

    [Test]
    public void ModernQueueSizeCanBeLoweredToAPowerOfTwoOnly()
    {
        d.Status = 0;
        d.Common(22, 2, 0);
        Assert.That(d.Common(24, 2), Is.EqualTo(256u));
        d.Common(24, 2, 100);
        Assert.That(d.Common(24, 2), Is.EqualTo(256u), "100 is not a power of two");
        d.Common(24, 2, 512);
        Assert.That(d.Common(24, 2), Is.EqualTo(256u), "cannot grow beyond the device maximum");
        d.Common(24, 2, 64);
        Assert.That(d.Common(24, 2), Is.EqualTo(64u));
    }

    [Test]
    public void AbsentQueuesReadAsSizeZeroAndSelectBeyond1024IsIgnored()
    {
        d.Common(22, 2, 1);
        Assert.That(d.Common(24, 2), Is.EqualTo(0u), "queue 1 does not exist");
        d.Common(22, 2, 5000);
        Assert.That(d.Common(22, 2), Is.EqualTo(1u));
        d.Legacy(14, 2, 0);
        d.Legacy(14, 2, 2000);
        Assert.That(d.Legacy(14, 2), Is.EqualTo(0u), "legacy select ignores >= 1024 too");
    }

    [Test]
    public void MsixVectorsReadBackNoVectorOnABoardWithoutMsix()
    {
        d.Common(16, 2, 0);
        Assert.That(d.Common(16, 2), Is.EqualTo(0xFFFFu));
        d.Common(22, 2, 0);
        d.Common(26, 2, 1);
        Assert.That(d.Common(26, 2), Is.EqualTo(0xFFFFu));
    }

    [Test]
    public void PciConfigurationWindowReachesTheModernRegisters()
    {
        int cap = d.FindVirtioCap(VirtioPciTransport.CapPciCfg);
        Assert.That(cap, Is.Not.Zero);
        d.ConfigWrite(cap + 4, 1, 4);                   // bar 4
        d.ConfigWrite(cap + 8, 4, 18);                  // num_queues
        d.ConfigWrite(cap + 12, 4, 2);
        Assert.That(d.ConfigRead(cap + 16, 2), Is.EqualTo(1u));
        d.ConfigWrite(cap + 8, 4, 20);                  // device_status, written through the window
        d.ConfigWrite(cap + 12, 4, 1);
        d.ConfigWrite(cap + 16, 1, MiniVirtioDriver.Ack);
        Assert.That(rig.Blk.Status, Is.EqualTo(MiniVirtioDriver.Ack));
    }

    [Test]
    public void LegacyQueueAddressZeroResetsTheDevice()
    {
        d.InitLegacy(AllFeatures);
        Assert.That(rig.Blk.DriverOk, Is.True);
        d.Legacy(8, 4, 0);
        Assert.That(rig.Blk.Status, Is.EqualTo(0));
        Assert.That(rig.Blk.Queues[0].Enabled, Is.False);
    }

    [Test]
    public void LegacyDriverAcknowledgingBadFeatureGetsNothing()
    {
        d.Status = MiniVirtioDriver.Ack | MiniVirtioDriver.Driver;
        d.Legacy(4, 4, d.Legacy(0, 4));                 // a broken driver accepting everything, bit 30 included
        Assert.That(d.Legacy(4, 4), Is.EqualTo(0u));
    }

    [Test]
    public void LegacyDeviceConfigPastTheEndReadsAllOnes()
    {
        Assert.That(d.Legacy(20 + VirtioBlk.ConfigSize, 1), Is.EqualTo(0xFFu));
        Assert.That(d.Legacy(20 + VirtioBlk.ConfigSize - 2, 4), Is.EqualTo(0xFFFF_FFFFu), "a read that crosses the end");
        Assert.That(d.Legacy(20, 4), Is.EqualTo((uint)(rig.Disk.Size / 512)), "capacity, low half");
    }

    [Test]
    public void BrokenDeviceBumpsConfigGeneration()
    {
        Assert.That(d.InitModern(AllFeatures), Is.True);
        uint before = d.Common(21, 1);
        d.Publish((ushort)(d.QueueSize + 1));
        d.Notify();
        Assert.That(d.Common(21, 1), Is.EqualTo((before + 1) & 0xFF));
    }

    [Test]
    public void NotificationsForQueuesThatDoNotExistAreIgnored()
    {
        Assert.That(d.InitModern(AllFeatures), Is.True);
        rig.Memory.Write16(d.MmioBase + 0x3000 + 4 * 7, 7);
        d.Legacy(16, 2, 9);
        Assert.That(rig.Blk.Broken, Is.False);
    }
}
