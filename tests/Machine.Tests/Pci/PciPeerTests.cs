using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Pci;

/// <summary>
/// The board and the virtio disk as QEMU's i440FX "pc" shows them to a guest, read from a running
/// qemu-system-i386 (qtest) with a virtio-blk-pci in slot 3 without MSI-X (vectors=0, since this board has no
/// APIC), and compared with ours.
/// </summary>
[NonParallelizable]
public class PciPeerTests
{
    private string image = null!;
    private const long DiskSize = 64L << 20;

    [OneTimeSetUp]
    public void CreateImage()
    {
        image = Path.Combine(Path.GetTempPath(), $"emu-peer-{Environment.ProcessId}.raw");
        using (var f = File.Create(image)) f.SetLength(DiskSize);
    }

    [OneTimeTearDown]
    public void DeleteImage() => File.Delete(image);

    private QemuQtest StartQemu() =>
        new("-drive", $"file={image},format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0,addr=3,vectors=0");

    private static VirtioRig OurRig() => new(DiskSize);

    [Test]
    public void VirtioBlkConfigurationSpaceMatchesQemuByteForByte()
    {
        using var qemu = StartQemu();
        using var rig = OurRig();
        for (int reg = 0; reg < 256; reg += 4)
            Assert.That(rig.Driver.ConfigRead(reg, 4), Is.EqualTo(qemu.ConfigRead(3, reg, 4)), $"dword at 0x{reg:x2}");
    }

    [Test]
    public void BarSizesMatchQemu()
    {
        using var qemu = StartQemu();
        using var rig = OurRig();
        for (int reg = 0x10; reg <= 0x24; reg += 4)
        {
            qemu.ConfigWrite(3, reg, 4, 0xFFFF_FFFF);
            rig.Driver.ConfigWrite(reg, 4, 0xFFFF_FFFF);
            Assert.That(rig.Driver.ConfigRead(reg, 4), Is.EqualTo(qemu.ConfigRead(3, reg, 4)), $"BAR at 0x{reg:x2}");
        }
    }

    [Test]
    public void BridgeIdentitiesAndResetRoutingMatchQemu()
    {
        using var qemu = StartQemu();
        using var rig = OurRig();
        rig.Bus.Reset();                                   // the rig routes PIRQC itself; compare power-on state
        var ours = new MiniVirtioDriver(rig.Memory, rig.Io, 0);
        var isa = new MiniVirtioDriver(rig.Memory, rig.Io, 1);
        foreach (int reg in new[] { 0x00, 0x08, 0x2C })
        {
            Assert.That(ours.ConfigRead(reg, 4), Is.EqualTo(qemu.ConfigRead(0, reg, 4)), $"host bridge 0x{reg:x2}");
            Assert.That(isa.ConfigRead(reg, 4), Is.EqualTo(qemu.ConfigRead(1, reg, 4)), $"ISA bridge 0x{reg:x2}");
        }
        Assert.That(ours.ConfigRead(0x0E, 1), Is.EqualTo(qemu.ConfigRead(0, 0x0E, 1)), "host bridge header type");
        Assert.That(isa.ConfigRead(0x0E, 1), Is.EqualTo(qemu.ConfigRead(1, 0x0E, 1)), "ISA bridge header type");
        for (int reg = 0x59; reg <= 0x5F; reg++)
            Assert.That(ours.ConfigRead(reg, 1), Is.EqualTo(qemu.ConfigRead(0, reg, 1)), $"PAM at 0x{reg:x2}");
        for (int reg = 0x60; reg <= 0x63; reg++)
            Assert.That(isa.ConfigRead(reg, 1), Is.EqualTo(qemu.ConfigRead(1, reg, 1)), $"PIRQRC at 0x{reg:x2}");
    }

    [Test]
    public void LegacyRegistersAndDeviceConfigurationMatchQemu()
    {
        using var qemu = StartQemu();
        using var rig = OurRig();
        qemu.ConfigWrite(3, 0x10, 4, 0xC000);
        qemu.ConfigWrite(3, 0x04, 2, 1);
        rig.Driver.MapBars(0xC000);
        Assert.That(rig.Io.In(0xC000, 4), Is.EqualTo(qemu.In(0xC000, 4)), "host features");
        Assert.That(rig.Io.In(0xC000 + 12, 2), Is.EqualTo(qemu.In(0xC000 + 12, 2)), "queue 0 size");
        Assert.That(rig.Io.In(0xC000 + 18, 1), Is.EqualTo(qemu.In(0xC000 + 18, 1)), "status");
        for (int off = 0; off < 0x40; off++)
            Assert.That(rig.Io.In((ushort)(0xC014 + off), 1), Is.EqualTo(qemu.In((ushort)(0xC014 + off), 1)), $"config byte 0x{off:x2}");
    }

    [Test]
    public void ModernCommonConfigurationMatchesQemu()
    {
        using var qemu = StartQemu();
        using var rig = OurRig();
        const uint bar = 0xFE00_0000;
        qemu.ConfigWrite(3, 0x20, 4, bar);
        qemu.ConfigWrite(3, 0x24, 4, 0);
        qemu.ConfigWrite(3, 0x04, 2, 2);
        rig.Driver.MapBars(0xC000, bar);
        foreach (uint select in new uint[] { 0, 1 })
        {
            qemu.Write(bar, 4, select);
            rig.Memory.Write32(bar, select);
            Assert.That(rig.Memory.Read32(bar + 4), Is.EqualTo(qemu.Read(bar + 4, 4)), $"device features window {select}");
        }
        foreach (var (off, size, what) in new[] { (16u, 2, "msix_config"), (18u, 2, "num_queues"), (20u, 1, "status"),
                     (24u, 2, "queue_size"), (26u, 2, "queue_msix_vector"), (28u, 2, "queue_enable"), (30u, 2, "queue_notify_off") })
            Assert.That(size == 1 ? rig.Memory.Read8(bar + off) : rig.Memory.Read16(bar + off),
                Is.EqualTo(qemu.Read(bar + off, size)), what);
        for (uint off = 0; off < 0x40; off += 4)
            Assert.That(rig.Memory.Read32(bar + 0x2000 + off), Is.EqualTo(qemu.Read(bar + 0x2000 + off, 4)), $"device config 0x{off:x2}");
    }
}
