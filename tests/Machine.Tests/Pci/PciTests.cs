using Emulator.Bus;
using Emulator.Pci;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Pci;

public class PciTests
{
    private VirtioRig rig = null!;

    [SetUp]
    public void SetUp() => rig = new VirtioRig();

    [TearDown]
    public void TearDown() => rig.Dispose();

    private uint Cfg(int dev, int fn, int reg, int size = 4)
    {
        rig.Io.Out(0xCF8, 4, 0x8000_0000u | (uint)dev << 11 | (uint)fn << 8 | (uint)(reg & 0xFC));
        return rig.Io.In((ushort)(0xCFC + (reg & 3)), size);
    }

    private void CfgW(int dev, int reg, int size, uint v)
    {
        rig.Io.Out(0xCF8, 4, 0x8000_0000u | (uint)dev << 11 | (uint)(reg & 0xFC));
        rig.Io.Out((ushort)(0xCFC + (reg & 3)), size, v);
    }

    [Test]
    public void ConfigurationMechanism1FindsTheI440fxTopology()
    {
        Assert.That(Cfg(0, 0, 0), Is.EqualTo(0x1237_8086u));
        Assert.That(Cfg(0, 0, 8) >> 8, Is.EqualTo(0x060000u), "host bridge class");
        Assert.That(Cfg(1, 0, 0), Is.EqualTo(0x7000_8086u));
        Assert.That(Cfg(1, 0, 8) >> 8, Is.EqualTo(0x060100u), "ISA bridge class");
        Assert.That(Cfg(1, 0, 0x0E, 1), Is.EqualTo(0x80u), "multi-function header");
        Assert.That(Cfg(2, 0, 0), Is.EqualTo(0xFFFF_FFFFu), "empty slot");
        Assert.That(Cfg(1, 1, 0), Is.EqualTo(0xFFFF_FFFFu), "absent function");
        Assert.That(Cfg(3, 0, 2, 2), Is.EqualTo(0x1001u), "word read at offset 2");
        Assert.That(Cfg(3, 0, 0x3D, 1), Is.EqualTo(1u), "INTA");
    }

    [Test]
    public void AddressRegisterNeedsDwordAccessAndTheEnableBit()
    {
        rig.Io.Out(0xCF8, 4, 0x8000_0000);
        Assert.That(rig.Io.In(0xCF8, 4), Is.EqualTo(0x8000_0000u), "Linux's pci_check_type1 reads it back");
        rig.Io.Out(0xCF8, 4, 0x0000_0000);               // enable bit clear: no configuration cycle
        Assert.That(rig.Io.In(0xCFC, 4), Is.EqualTo(0xFFFF_FFFFu));
        rig.Io.Out(0xCF8, 4, 0x8000_0000);
        rig.Io.Out(0xCF8, 1, 0x12);                      // a byte write is not a config address write
        Assert.That(rig.Io.In(0xCF8, 4), Is.EqualTo(0x8000_0000u));
        rig.Io.Out(0xCF8, 4, 0x8001_0000);               // bus 1 does not exist
        Assert.That(rig.Io.In(0xCFC, 4), Is.EqualTo(0xFFFF_FFFFu));
    }

    [Test]
    public void BarSizingReadsBackSizeAndType()
    {
        CfgW(3, 0x10, 4, 0xFFFF_FFFF);
        uint io = Cfg(3, 0, 0x10);
        Assert.That(io & 1, Is.EqualTo(1u), "I/O BAR");
        uint ioSize = ~(io & 0xFFFF_FFFC) + 1;
        Assert.That(ioSize, Is.GreaterThanOrEqualTo(20u + (uint)rig.Blk.ConfigLength), "legacy header plus device config fit");
        Assert.That(ioSize & (ioSize - 1), Is.EqualTo(0u));
        CfgW(3, 0x20, 4, 0xFFFF_FFFF);
        CfgW(3, 0x24, 4, 0xFFFF_FFFF);
        Assert.That(Cfg(3, 0, 0x20), Is.EqualTo(0xFFFF_C00Cu), "16 KiB, 64-bit, prefetchable");
        Assert.That(Cfg(3, 0, 0x24), Is.EqualTo(0xFFFF_FFFFu));
        CfgW(3, 0x14, 4, 0xFFFF_FFFF);
        Assert.That(Cfg(3, 0, 0x14), Is.EqualTo(0u), "no BAR 1 without MSI-X");
    }

    [Test]
    public void IoBarDecodesOnlyWhileEnabledAndFollowsMoves()
    {
        CfgW(3, 0x10, 4, 0xC000);
        Assert.That(rig.Io.In(0xC000 + 18, 1), Is.EqualTo(0xFFu), "I/O decoding is off after reset");
        CfgW(3, 0x04, 2, 1);
        rig.Io.Out(0xC000 + 18, 1, 1);
        Assert.That(rig.Blk.Status, Is.EqualTo(1), "status register reached through the BAR");
        CfgW(3, 0x10, 4, 0xD000);
        Assert.That(rig.Io.In(0xC000 + 18, 1), Is.EqualTo(0xFFu), "old window released");
        Assert.That(rig.Io.In(0xD000 + 18, 1), Is.EqualTo(1u));
        CfgW(3, 0x04, 2, 0);
        Assert.That(rig.Io.In(0xD000 + 18, 1), Is.EqualTo(0xFFu));
    }

    [Test]
    public void MemoryBarDecodesAbovRamButNeverOverRam()
    {
        CfgW(3, 0x20, 4, 0xFE00_0000);
        CfgW(3, 0x24, 4, 0);
        CfgW(3, 0x04, 2, 2);
        Assert.That(rig.Memory.Read16(0xFE00_0000 + 18), Is.EqualTo(1), "num_queues through the modern BAR");
        rig.Memory.Write32(0x0010_0000, 0x1234_5678);
        CfgW(3, 0x20, 4, 0x0010_0000);                   // inside RAM: not decoded
        Assert.That(rig.Memory.Read32(0x0010_0000), Is.EqualTo(0x1234_5678u));
        Assert.That(rig.Memory.Read32(0xFE00_0000), Is.EqualTo(0xFFFF_FFFFu), "moved away from the old address");
        Assert.That(rig.Transport.GetBar(4)!.MappedAt, Is.Null);
    }

    [Test]
    public void PamRegistersSwitchTheBiosAreaBetweenRomAndShadowRam()
    {
        var rom = new byte[0x10000];
        rom[0x100] = 0xAB;
        rig.Memory.MapRom(0xF0000, rom, 0, 0x10000, "bios");
        Assert.That(rig.Memory.Read8(0xF0100), Is.EqualTo(0xAB));
        CfgW(0, 0x59, 1, 0x20);                          // PAM0: writes to RAM, reads from ROM
        rig.Memory.Write8(0xF0100, 0x11);
        Assert.That(rig.Memory.Read8(0xF0100), Is.EqualTo(0xAB));
        CfgW(0, 0x59, 1, 0x10);                          // reads from RAM
        Assert.That(rig.Memory.Read8(0xF0100), Is.EqualTo(0x11));
        rig.Memory.Write8(0xF0100, 0x22);                // write goes to ROM side: dropped
        Assert.That(rig.Memory.Read8(0xF0100), Is.EqualTo(0x11));
        Assert.That(Cfg(0, 0, 0x59, 1), Is.EqualTo(0x10u));
        CfgW(0, 0x59, 1, 0x0F);
        Assert.That(Cfg(0, 0, 0x59, 1), Is.EqualTo(0u), "PAM0's low nibble is reserved");
    }

    [Test]
    public void PamSegmentsBelowTheBiosAreSixteenKiB()
    {
        rig.Memory.MapHole(0xC0000, 0x10000);
        CfgW(0, 0x5A, 1, 0x30);                          // PAM1 high nibble: 0xC4000-0xC7FFF read/write RAM
        rig.Memory.Write8(0xC4000, 0x5A);
        rig.Memory.Write8(0xC0000, 0x5A);
        Assert.That(rig.Memory.Read8(0xC4000), Is.EqualTo(0x5A));
        Assert.That(rig.Memory.Read8(0xC0000), Is.EqualTo(0xFF), "low nibble still routes to the (empty) bus");
    }

    [Test]
    public void IntxIsRoutedThroughPirqToTheProgrammedIsaIrq()
    {
        Assert.That(PiixIsaBridge.PirqOf(3, 1), Is.EqualTo(2), "slot 3 INTA is PIRQC on QEMU's board");
        rig.Transport.SetIntx(true);
        Assert.That(rig.Irqs.Level[11], Is.True);
        CfgW(1, 0x62, 1, 10);                            // PIRQC -> IRQ 10
        Assert.That(rig.Irqs.Level[11], Is.False);
        Assert.That(rig.Irqs.Level[10], Is.True);
        CfgW(3, 0x04, 2, 0x400);                         // INTx disable
        Assert.That(rig.Irqs.Level[10], Is.False);
        CfgW(3, 0x04, 2, 0);
        Assert.That(rig.Irqs.Level[10], Is.True);
        CfgW(1, 0x62, 1, 0x80);                          // routing disabled
        Assert.That(rig.Irqs.Level[10], Is.False);
        rig.Transport.SetIntx(false);
    }

    [Test]
    public void SharedPirqStaysAssertedWhileAnyDeviceHoldsIt()
    {
        var second = new Emulator.Virtio.VirtioPciTransport("second", new Emulator.Virtio.VirtioBlk(rig.Memory,
            new TestBlockDevice(4096), rig.Loop), 0x010000);
        rig.Bus.Add(second, 7);                           // slot 7 INTA: (0 + 6) & 3 = PIRQC as well
        rig.Transport.SetIntx(true);
        second.SetIntx(true);
        rig.Transport.SetIntx(false);
        Assert.That(rig.Irqs.Level[11], Is.True);
        second.SetIntx(false);
        Assert.That(rig.Irqs.Level[11], Is.False);
    }

    [Test]
    public void FirmwareSetUpAssignsDisjointBarsAndFillsInterruptLines()
    {
        var second = new Emulator.Virtio.VirtioPciTransport("second", new Emulator.Virtio.VirtioBlk(rig.Memory,
            new TestBlockDevice(4096), rig.Loop), 0x010000);
        rig.Bus.Add(second, 5);
        ushort elcr = 0;
        PciFirmware.Configure(rig.Bus, rig.Isa, e => elcr = e, rig.Memory.RamSize);
        Assert.That(elcr, Is.EqualTo((1 << 10) | (1 << 11)));
        Assert.That(Cfg(3, 0, 0x3C, 1), Is.EqualTo(11u), "slot 3 INTA -> PIRQC -> 11");
        Assert.That(Cfg(5, 0, 0x3C, 1), Is.EqualTo(10u), "slot 5 INTA -> PIRQA -> 10");
        var ranges = new List<(ulong Start, ulong End, bool Io)>();
        foreach (var dev in new Emulator.Pci.PciDevice[] { rig.Transport, second })
            foreach (var bar in dev.Bars)
            {
                Assert.That(bar.MappedAt, Is.Not.Null, $"{bar.Name} is decoded");
                ranges.Add((bar.MappedAt!.Value, bar.MappedAt.Value + bar.Size, bar.Kind == PciBarKind.Io));
                Assert.That(bar.MappedAt.Value % bar.Size, Is.EqualTo(0), "naturally aligned");
                if (bar.Kind == PciBarKind.Io) Assert.That(bar.MappedAt, Is.GreaterThanOrEqualTo(0xC000u));
                else Assert.That(bar.MappedAt, Is.GreaterThanOrEqualTo(rig.Memory.RamSize));
            }
        foreach (var a in ranges)
            foreach (var b in ranges)
                if (a != b && a.Io == b.Io)
                    Assert.That(a.End <= b.Start || b.End <= a.Start, Is.True, "BARs do not overlap");
    }

    [Test]
    public void ResetControlRegisterRequestsAReset()
    {
        rig.Io.Out(0xCF9, 1, 0x02);
        Assert.That(rig.Resets, Is.Empty);
        rig.Io.Out(0xCF9, 1, 0x06);
        Assert.That(rig.Resets, Has.Count.EqualTo(1));
    }

    [Test]
    public void BusResetRestoresPowerOnConfigurationAndUnmapsBars()
    {
        CfgW(3, 0x10, 4, 0xC000);
        CfgW(3, 0x04, 2, 1);
        CfgW(3, 0x3C, 1, 11);
        rig.Bus.Reset();
        Assert.That(Cfg(3, 0, 0x10), Is.EqualTo(1u));
        Assert.That(Cfg(3, 0, 0x04, 2), Is.EqualTo(0u));
        Assert.That(Cfg(3, 0, 0x3C, 1), Is.EqualTo(0u));
        Assert.That(rig.Io.DeviceAt(0xC000), Is.Null);
    }
}
