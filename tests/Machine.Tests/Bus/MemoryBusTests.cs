using Emulator.Bus;
using NUnit.Framework;

namespace Machine.Tests.Bus;

public class MemoryBusTests
{
    private sealed class Recorder : IMmioDevice
    {
        public readonly List<(uint Offset, int Size, uint Value)> Writes = new();
        public uint Read(uint offset, int size) => 0xA500_0000u | offset;
        public void Write(uint offset, int size, uint value) => Writes.Add((offset, size, value));
    }

    [Test]
    public void RamReadsBackWhatWasWrittenAcrossPageBoundaries()
    {
        var bus = new MemoryBus(1 << 20);
        bus.Write32(0x0FFE, 0x11223344);
        Assert.That(bus.Read32(0x0FFE), Is.EqualTo(0x11223344u));
        Assert.That(bus.Read8(0x1000), Is.EqualTo(0x22));
        Assert.That(bus.Read16(0x0FFF), Is.EqualTo(0x2233));
    }

    [Test]
    public void UnassignedReadsAllOnesAndDropsWrites()
    {
        var bus = new MemoryBus(1 << 20);
        bus.Write32(0x0020_0000, 1234);
        Assert.That(bus.Read32(0x0020_0000), Is.EqualTo(0xFFFF_FFFFu));
        Assert.That(bus.Read16(0xFFFF_0000), Is.EqualTo(0xFFFF));
    }

    [Test]
    public void MmioGetsRegionRelativeOffsets()
    {
        var bus = new MemoryBus(1 << 20);
        var dev = new Recorder();
        bus.MapMmio(0xFEB0_0000, 0x4000, dev, "test");
        bus.Write16(0xFEB0_1002, 0xBEEF);
        Assert.That(dev.Writes, Is.EqualTo(new[] { (0x1002u, 2, 0xBEEFu) }));
        Assert.That(bus.Read32(0xFEB0_0010), Is.EqualTo(0xA500_0010u));
        bus.Unmap(0xFEB0_0000, 0x4000);
        Assert.That(bus.Read32(0xFEB0_0010), Is.EqualTo(0xFFFF_FFFFu));
    }

    [Test]
    public void ShadowRoutesReadsAndWritesSeparately()
    {
        var bus = new MemoryBus(1 << 20);
        var rom = new byte[0x10000];
        rom[0x10] = 0x5A;
        bus.MapRom(0xF0000, rom, 0, 0x10000, "bios");
        Assert.That(bus.Read8(0xF0010), Is.EqualTo(0x5A));
        bus.Write8(0xF0010, 0x77);                      // read-only: dropped
        Assert.That(bus.Read8(0xF0010), Is.EqualTo(0x5A));
        bus.SetShadow(0xF0000, 0x10000, readRam: false, writeRam: true);
        bus.Write8(0xF0010, 0x77);                      // goes to the RAM below
        Assert.That(bus.Read8(0xF0010), Is.EqualTo(0x5A));
        bus.SetShadow(0xF0000, 0x10000, readRam: true, writeRam: false);
        Assert.That(bus.Read8(0xF0010), Is.EqualTo(0x77));
    }

    [Test]
    public void DmaIsRamOnlyAndDropsCode()
    {
        var bus = new MemoryBus(1 << 20);
        var dropped = new List<uint>();
        bus.CodePages[3] = 1;
        bus.CodePageWritten = p => { dropped.Add(p); bus.CodePages[p] = 0; };
        Assert.That(bus.DmaWrite(0x2FFF, new byte[] { 1, 2 }), Is.True);
        Assert.That(dropped, Is.EqualTo(new[] { 3u }));
        Assert.That(bus.DmaWrite(0xFFFFF, new byte[] { 1, 2 }), Is.False, "crosses the end of RAM");
        Assert.That(bus.DmaRead(0xFFFF_FFFF_0000UL, new byte[4]), Is.False, "above 4 GiB");
        bus.MapRom(0xF0000, new byte[0x10000], 0, 0x10000, "bios");
        Assert.That(bus.IsRam(0xF0000, 16), Is.False);
    }

    [Test]
    public void A20MaskWrapsAtOneMegabyteWhenClosed()
    {
        var bus = new MemoryBus(2 << 20);
        int changes = 0;
        bus.MappingChanged += (_, _) => changes++;
        bus.A20Enabled = false;
        Assert.That(bus.A20Mask & 0x10_0000u, Is.EqualTo(0u));
        Assert.That(changes, Is.EqualTo(1));
    }
}

public class IoPortBusTests
{
    private sealed class Latch : IPortDevice
    {
        public uint Value;
        public uint In(ushort port, int size) => Value + port;
        public void Out(ushort port, int size, uint value) => Value = value;
    }

    [Test]
    public void DispatchesToTheClaimingDeviceAndFloatsElsewhere()
    {
        var io = new IoPortBus();
        var latch = new Latch();
        io.Register(0x80, 2, latch);
        io.Out(0x81, 1, 7);
        Assert.That(io.In(0x80, 1), Is.EqualTo(7u + 0x80));
        Assert.That(io.In(0x82, 2), Is.EqualTo(0xFFFFu));
        Assert.Throws<InvalidOperationException>(() => io.Register(0x81, 1, new Latch()));
    }
}
