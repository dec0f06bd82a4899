using Emulator.Virtio;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Virtio;

/// <summary>
/// The driver as an adversary (virtio 1.2 and QEMU's virtio_error cases): malformed rings put the device in the
/// broken state — NEEDS_RESET and a configuration interrupt on a modern device — without any host exception,
/// another disk keeps working, and after a reset the device works again.
/// </summary>
public class HostileGuestTests
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
        Assert.That(d.InitModern(AllFeatures), Is.True);
    }

    [TearDown]
    public void TearDown() => rig.Dispose();

    private ulong Ram(uint size = 512) => d.Alloc(size);

    /// <summary>Writes raw descriptors at the given table indices and publishes <paramref name="head"/>.</summary>
    private void Raw(ushort head, params (int Index, ulong Addr, uint Len, ushort Flags, ushort Next)[] descs)
    {
        foreach (var x in descs) d.WriteDescriptor(d.Desc, x.Index, x.Addr, x.Len, x.Flags, x.Next);
        d.Publish(head);
        d.Notify();
    }

    private ulong Header(uint type = VirtioBlkRequest.TypeIn, ulong sector = 0)
    {
        ulong h = Ram(16);
        d.W32(h, type);
        d.W64(h + 8, sector);
        return h;
    }

    private void AssertBrokenThenRecovers(string because)
    {
        Assert.That(rig.Blk.Broken, Is.True, $"device should be broken: {because}");
        Assert.That(d.Status & MiniVirtioDriver.NeedsReset, Is.Not.Zero, "NEEDS_RESET on a VERSION_1 device");
        Assert.That(d.ReadIsr() & 2, Is.EqualTo(2), "configuration-change interrupt");
        // The broken device ignores further work.
        d.Notify();
        rig.Loop.RunPending();
        // A reset and a fresh initialisation make it work again.
        Assert.That(d.InitModern(AllFeatures), Is.True);
        Assert.That(rig.Blk.Broken, Is.False);
        var r = d.Read(0, 512);
        rig.Pump(() => { d.ReapUsed(); return r.Done; }, "a read after the reset");
        Assert.That(d.StatusOf(r), Is.EqualTo(VirtioBlkRequest.StatusOk));
    }

    [Test]
    public void LoopedChain()
    {
        ulong h = Header();
        Raw(0, (0, h, 16, VirtQueue.DescNext, 1), (1, Ram(), 512, VirtQueue.DescNext | VirtQueue.DescWrite, 0));
        AssertBrokenThenRecovers("descriptor 1 points back to 0");
    }

    [Test]
    public void NextIndexBeyondTheTable()
    {
        Raw(0, (0, Header(), 16, VirtQueue.DescNext, (ushort)(d.QueueSize + 5)));
        AssertBrokenThenRecovers("next out of range");
    }

    [Test]
    public void HeadIndexBeyondTheTable()
    {
        d.Publish((ushort)d.QueueSize);
        d.Notify();
        AssertBrokenThenRecovers("head out of range");
    }

    [TestCase(0u)]
    [TestCase(15u)]
    [TestCase(16u * 1025)]
    public void BadIndirectTableSize(uint length)
    {
        Raw(0, (0, Ram(16 * 1025 + 16), length, VirtQueue.DescIndirect, 0));
        AssertBrokenThenRecovers($"indirect length {length}");
    }

    [Test]
    public void IndirectTableOutsideRam()
    {
        Raw(0, (0, 0xF000_0000, 48, VirtQueue.DescIndirect, 0));
        AssertBrokenThenRecovers("indirect table in unassigned space");
    }

    [Test]
    public void NestedIndirect()
    {
        ulong table = Ram(32);
        d.WriteDescriptor(table, 0, Ram(32), 32, VirtQueue.DescIndirect, 0);
        Raw(0, (0, table, 16, VirtQueue.DescIndirect, 0));
        AssertBrokenThenRecovers("indirect inside indirect");
    }

    [Test]
    public void BufferOutsideRam()
    {
        Raw(0, (0, Header(), 16, VirtQueue.DescNext, 1), (1, 0x7FFF_0000, 512, VirtQueue.DescNext | VirtQueue.DescWrite, 2),
            (2, Ram(1), 1, VirtQueue.DescWrite, 0));
        AssertBrokenThenRecovers("buffer beyond RAM");
    }

    [Test]
    public void BufferInMmio()
    {
        Raw(0, (0, Header(), 16, VirtQueue.DescNext, 1), (1, d.MmioBase, 512, VirtQueue.DescNext | VirtQueue.DescWrite, 2),
            (2, Ram(1), 1, VirtQueue.DescWrite, 0));
        AssertBrokenThenRecovers("buffer over the device's own BAR");
    }

    [Test]
    public void BufferStraddlingTheEndOfRam()
    {
        Raw(0, (0, Header(), 16, VirtQueue.DescNext, 1), (1, rig.Memory.RamSize - 256, 512, VirtQueue.DescNext | VirtQueue.DescWrite, 2),
            (2, Ram(1), 1, VirtQueue.DescWrite, 0));
        AssertBrokenThenRecovers("buffer crosses the top of RAM");
    }

    [Test]
    public void ZeroLengthBuffer()
    {
        Raw(0, (0, Header(), 16, VirtQueue.DescNext, 1), (1, Ram(), 0, VirtQueue.DescNext | VirtQueue.DescWrite, 2),
            (2, Ram(1), 1, VirtQueue.DescWrite, 0));
        AssertBrokenThenRecovers("zero-length buffer");
    }

    [Test]
    public void ReadableAfterWritable()
    {
        Raw(0, (0, Header(), 16, VirtQueue.DescNext, 1), (1, Ram(1), 1, VirtQueue.DescNext | VirtQueue.DescWrite, 2),
            (2, Ram(), 512, 0, 0));
        AssertBrokenThenRecovers("readable descriptor after a writable one");
    }

    [Test]
    public void AvailIndexJumpsPastTheRing()
    {
        d.SetAvailIdx((ushort)(d.QueueSize + 1));
        d.Notify();
        AssertBrokenThenRecovers("avail.idx moved by more than the ring size");
    }

    [Test]
    public void MissingStatusByte()
    {
        Raw(0, (0, Header(), 16, VirtQueue.DescNext, 1), (1, Ram(), 512, 0, 0));
        AssertBrokenThenRecovers("no writable buffer");
    }

    [Test]
    public void HeaderTooShort()
    {
        Raw(0, (0, Header(), 8, VirtQueue.DescNext, 1), (1, Ram(1), 1, VirtQueue.DescWrite, 0));
        AssertBrokenThenRecovers("8-byte header");
    }

    [Test]
    public void DiscardSegmentTooShort()
    {
        Raw(0, (0, Header(VirtioBlkRequest.TypeDiscard), 16, VirtQueue.DescNext, 1), (1, Ram(8), 8, VirtQueue.DescNext, 2),
            (2, Ram(1), 1, VirtQueue.DescWrite, 0));
        AssertBrokenThenRecovers("8-byte discard segment");
    }

    [Test]
    public void MoreChainsInFlightThanTheRingHolds()
    {
        Assert.That(d.InitModern(AllFeatures, queueSize: 8), Is.True);
        Assert.That(d.QueueSize, Is.EqualTo(8));
        rig.Disk.Hold();
        for (int i = 0; i < 8; i++) d.Read(0, 512, indirect: true);
        Assert.That(rig.Blk.Broken, Is.False);
        d.Publish(0);                                   // re-offer a head the device already holds
        d.Notify();
        rig.Disk.Release();
        AssertBrokenThenRecovers("a ninth chain on an 8-entry ring");
    }

    [Test]
    public void WrongQueueEnableValue()
    {
        d.Common(22, 2, 0);
        d.Common(28, 2, 2);
        AssertBrokenThenRecovers("queue_enable = 2");
    }

    [Test]
    public void LegacyDeviceGoesQuietlyBrokenWithoutNeedsReset()
    {
        d.InitLegacy(AllFeatures);
        d.Publish((ushort)(d.QueueSize + 3));
        d.Notify();
        Assert.That(rig.Blk.Broken, Is.True);
        Assert.That(d.Status & MiniVirtioDriver.NeedsReset, Is.Zero);
        d.InitLegacy(AllFeatures);
        var r = d.Read(0, 512);
        rig.Pump(() => { d.ReapUsed(); return r.Done; });
        Assert.That(d.StatusOf(r), Is.EqualTo(VirtioBlkRequest.StatusOk));
    }

    [Test]
    public void AnotherDiskKeepsWorkingWhileOneIsBroken()
    {
        var otherDisk = new TestBlockDevice(1 << 20);
        otherDisk.Data[0] = 0x5A;
        var other = new VirtioPciTransport("other", new VirtioBlk(rig.Memory, otherDisk, rig.Loop), 0x010000);
        rig.Bus.Add(other, 4);
        var od = new MiniVirtioDriver(rig.Memory, rig.Io, 4, heapStart: 0x800000);
        od.MapBars(0xC100, 0xFE10_0000);
        Assert.That(od.InitModern(AllFeatures), Is.True);
        d.Publish((ushort)(d.QueueSize + 1));
        d.Notify();
        Assert.That(rig.Blk.Broken, Is.True);
        var r = od.Read(0, 512);
        rig.Pump(() => { od.ReapUsed(); return r.Done; });
        Assert.That(od.StatusOf(r), Is.EqualTo(VirtioBlkRequest.StatusOk));
        Assert.That(od.DataOf(r)[0], Is.EqualTo(0x5A));
    }

    /// <summary>Random requests from a fixed seed, most of them well formed and some with one field of one
    /// descriptor (or the available index) corrupted: whatever the guest writes, the host never throws or hangs,
    /// good requests keep completing, and after a reset the device always works again.</summary>
    [Test]
    public void RandomRingsNeverHurtTheHost()
    {
        var rng = new Random(20240229);
        ulong data = Ram(64 * 1024), status = Ram(16), header = Ram(16), table = Ram(16 * 8);
        ulong[] badAddresses = { 0, 0x7FFF_F000, d.MmioBase, rig.Memory.RamSize - 8, 0xFFFF_FFFF_FFFF_F000, 0xF000_0000 };
        uint[] types = { 0, 1, 4, 8, 11, 13, 2, 99, 0x8000_0001 };
        var run = Task.Run(() =>
        {
            int broken = 0, completed = 0;
            for (int iteration = 0; iteration < 3000; iteration++)
            {
                d.W32(header, types[rng.Next(types.Length)]);
                d.W64(header + 8, rng.Next(4) == 0 ? (ulong)rng.NextInt64() : (ulong)rng.Next(0, 2100));
                uint type = d.R32(header);
                bool write = (type & 1) != 0;
                uint len = rng.Next(3) switch { 0 => 512, 1 => (uint)rng.Next(1, 64) * 512, _ => (uint)rng.Next(1, 65536) };
                var segs = new List<(ulong Addr, uint Len, bool W)> { (header, 16, false) };
                if (rng.Next(5) != 0) segs.Add((data, len, !write));
                segs.Add((status, 1, true));
                bool indirect = rng.Next(3) == 0;
                int n = segs.Count;
                var slots = Enumerable.Range(0, d.QueueSize).OrderBy(_ => rng.Next()).Take(n).Select(x => (ushort)x).ToArray();
                ulong descTable = indirect ? table : d.Desc;
                for (int i = 0; i < n; i++)
                {
                    int at = indirect ? i : slots[i];
                    ushort next = indirect ? (ushort)(i + 1) : (i + 1 < n ? slots[i + 1] : (ushort)0);
                    d.WriteDescriptor(descTable, at, segs[i].Addr, segs[i].Len,
                        (ushort)((segs[i].W ? VirtQueue.DescWrite : 0) | (i + 1 < n ? VirtQueue.DescNext : 0)), next);
                }
                ushort head = slots[0];
                if (indirect) d.WriteDescriptor(d.Desc, head, table, 16u * (uint)n, VirtQueue.DescIndirect, 0);
                if (rng.Next(4) == 0)
                {
                    // Corrupt one field of one descriptor of this chain.
                    int victim = rng.Next(indirect ? n + 1 : n);
                    ulong at = victim == n ? d.Desc + 16UL * head : descTable + 16UL * (uint)(indirect ? victim : slots[victim]);
                    switch (rng.Next(4))
                    {
                        case 0: d.W64(at, badAddresses[rng.Next(badAddresses.Length)]); break;
                        case 1: d.W32(at + 8, (uint)rng.Next(3) switch { 0 => 0u, 1 => 15u, _ => 0xFFFF_FFFFu }); break;
                        case 2: d.W16(at + 12, (ushort)rng.Next(0, 8)); break;
                        default: d.W16(at + 14, (ushort)rng.Next(0, d.QueueSize + 8)); break;
                    }
                }
                if (rng.Next(40) == 0) d.SetAvailIdx((ushort)rng.Next(0, 65536));
                else d.Publish(head);
                d.Notify();
                rig.Loop.RunPending();
                completed += d.ReapUsed().Count;
                if (rig.Blk.Broken || rng.Next(50) == 0)
                {
                    if (rig.Blk.Broken) broken++;
                    Assert.That(d.InitModern(AllFeatures), Is.True);
                }
            }
            return (broken, completed);
        });
        Assert.That(run.Wait(TimeSpan.FromSeconds(60)), Is.True, "the fuzz loop hung");
        var (brokenCount, completedCount) = run.Result;
        Assert.That(brokenCount, Is.GreaterThan(0), "the fuzzer reached the broken state");
        Assert.That(completedCount, Is.GreaterThan(1000), "well-formed requests kept completing");
        rig.Pump(() => rig.Blk.Engine.InFlight == 0, "in-flight requests to drain");
        Assert.That(d.InitModern(AllFeatures), Is.True);
        var r = d.Read(0, 512);
        rig.Pump(() => { d.ReapUsed(); return r.Done; });
        Assert.That(d.StatusOf(r), Is.EqualTo(VirtioBlkRequest.StatusOk));
        TestContext.Out.WriteLine($"fuzz: {brokenCount} broken states, {completedCount} completions");
    }
}
