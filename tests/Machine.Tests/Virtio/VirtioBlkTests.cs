using Emulator.Virtio;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Virtio;

public class VirtioBlkTests
{
    private const ulong AllFeatures = ~0UL & ~(1UL << 30);     // everything offered except BAD_FEATURE
    private const byte Ok = 0, IoErr = 1, Unsupp = 2;

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static VirtioRig ModernRig(VirtioBlkOptions? options = null, long size = 1 << 20, TestBlockDevice? disk = null)
    {
        var rig = new VirtioRig(size, options, disk: disk);
        rig.Driver.MapBars();
        Assert.That(rig.Driver.InitModern(AllFeatures), Is.True);
        return rig;
    }

    private static void Finish(VirtioRig rig, BlkRequest r)
    {
        rig.Pump(() => { rig.Driver.ReapUsed(); return r.Done; }, "request completion");
    }

    [Test]
    public void ModernDriverNegotiatesVersion1IndirectAndEventIdx()
    {
        using var rig = ModernRig();
        ulong f = rig.Driver.NegotiatedFeatures;
        Assert.That(f & 1UL << 32, Is.Not.Zero, "VERSION_1");
        Assert.That(f & 1UL << 28, Is.Not.Zero, "INDIRECT_DESC");
        Assert.That(f & 1UL << 29, Is.Not.Zero, "EVENT_IDX");
        Assert.That(f & 1UL << 9, Is.Not.Zero, "FLUSH");
        Assert.That(rig.Driver.Capacity, Is.EqualTo((ulong)rig.Disk.Size / 512));
        Assert.That(rig.Blk.DriverOk, Is.True);
    }

    [Test]
    public void WriteThenReadBackThroughTheRing([Values] bool indirect)
    {
        using var rig = ModernRig();
        var data = Pattern(8192, 1);
        var w = rig.Driver.Write(16, data, indirect);
        Finish(rig, w);
        Assert.That(rig.Driver.StatusOf(w), Is.EqualTo(Ok));
        Assert.That(rig.Disk.Data.AsSpan(16 * 512, 8192).ToArray(), Is.EqualTo(data), "landed on the disk");
        Assert.That(w.UsedLength, Is.EqualTo(1u), "used length = writable bytes (the status byte)");
        var r = rig.Driver.Read(16, 8192, indirect);
        Finish(rig, r);
        Assert.That(rig.Driver.StatusOf(r), Is.EqualTo(Ok));
        Assert.That(rig.Driver.DataOf(r), Is.EqualTo(data));
        Assert.That(r.UsedLength, Is.EqualTo(8193u));
    }

    [Test]
    public void LegacyDriverWritesAndReads()
    {
        using var rig = new VirtioRig();
        rig.Driver.MapBars();
        rig.Driver.InitLegacy(AllFeatures);
        Assert.That(rig.Driver.NegotiatedFeatures & 1UL << 30, Is.Zero);
        var data = Pattern(4096, 2);
        Finish(rig, rig.Driver.Write(1, data));
        var r = rig.Driver.Read(1, 4096);
        Finish(rig, r);
        Assert.That(rig.Driver.DataOf(r), Is.EqualTo(data));
        Assert.That(rig.Irq11, Is.True);
        Assert.That(rig.Driver.ReadIsr(), Is.EqualTo(1));
        Assert.That(rig.Irq11, Is.False, "reading the ISR releases INTx");
    }

    [Test]
    public void CompletionRaisesIrq11ThroughThePirqRouter()
    {
        using var rig = ModernRig();
        var r = rig.Driver.Read(0, 512);
        Finish(rig, r);
        Assert.That(rig.Irq11, Is.True);
        Assert.That(rig.Driver.ReadIsr() & 1, Is.EqualTo(1));
        Assert.That(rig.Irq11, Is.False);
        Assert.That(rig.Driver.ReadIsr(), Is.EqualTo(0), "read-to-clear");
    }

    [Test]
    public void FlushReachesTheBackend()
    {
        using var rig = ModernRig();
        var f = rig.Driver.Submit(VirtioBlkRequest.TypeFlush, 0, 0, false);
        Finish(rig, f);
        Assert.That(rig.Driver.StatusOf(f), Is.EqualTo(Ok));
        Assert.That(rig.Disk.Flushes, Is.EqualTo(1));
    }

    [Test]
    public void UnsafeCacheModeAnswersFlushesWithoutTouchingTheBackend()
    {
        using var rig = ModernRig(new VirtioBlkOptions { Cache = DiskCacheMode.Unsafe });
        var f = rig.Driver.Submit(VirtioBlkRequest.TypeFlush, 0, 0, false);
        Finish(rig, f);
        Assert.That(rig.Driver.StatusOf(f), Is.EqualTo(Ok));
        Assert.That(rig.Disk.Flushes, Is.EqualTo(0));
    }

    [Test]
    public void WriteThroughFlushesEveryWriteUntilTheGuestEnablesTheWriteCache()
    {
        using var rig = ModernRig(new VirtioBlkOptions { Cache = DiskCacheMode.Writethrough });
        Assert.That(rig.Driver.DeviceConfig(0x20, 1), Is.EqualTo(0u), "wce = 0");
        Finish(rig, rig.Driver.Write(0, Pattern(512, 3)));
        Assert.That(rig.Disk.Log.Select(l => l.Op), Is.EqualTo(new[] { "write", "flush" }));
        rig.Memory.Write8(rig.Driver.MmioBase + 0x2000 + 0x20, 1);     // CONFIG_WCE: switch to writeback
        Finish(rig, rig.Driver.Write(0, Pattern(512, 4)));
        Assert.That(rig.Disk.Flushes, Is.EqualTo(1));
    }

    [Test]
    public void GetIdReturnsTheSerial()
    {
        using var rig = ModernRig(new VirtioBlkOptions { Serial = "QED-DISK-1" });
        var r = rig.Driver.Submit(VirtioBlkRequest.TypeGetId, 0, 20, true);
        Finish(rig, r);
        Assert.That(rig.Driver.StatusOf(r), Is.EqualTo(Ok));
        var expected = new byte[20];
        "QED-DISK-1"u8.CopyTo(expected);
        Assert.That(rig.Driver.DataOf(r), Is.EqualTo(expected));
    }

    [Test]
    public void DiscardAndWriteZeroesGoToTheBackend()
    {
        using var rig = ModernRig();
        Array.Fill(rig.Disk.Data, (byte)0xAA);
        var seg = new byte[16];
        BitConverter.TryWriteBytes(seg.AsSpan(0), 8UL);        // sector 8
        BitConverter.TryWriteBytes(seg.AsSpan(8), 4u);         // 4 sectors
        BitConverter.TryWriteBytes(seg.AsSpan(12), 1u);        // UNMAP allowed
        var wz = rig.Driver.Submit(VirtioBlkRequest.TypeWriteZeroes, 0, 16, false, payload: seg);
        Finish(rig, wz);
        Assert.That(rig.Driver.StatusOf(wz), Is.EqualTo(Ok));
        Assert.That(rig.Disk.Data.AsSpan(8 * 512, 4 * 512).ToArray().All(b => b == 0), Is.True);
        Assert.That(rig.Disk.Data[12 * 512], Is.EqualTo(0xAA));
        BitConverter.TryWriteBytes(seg.AsSpan(12), 0u);
        var d = rig.Driver.Submit(VirtioBlkRequest.TypeDiscard, 0, 16, false, payload: seg);
        Finish(rig, d);
        Assert.That(rig.Driver.StatusOf(d), Is.EqualTo(Ok));
        Assert.That(rig.Disk.Discards, Is.EqualTo(1));
    }

    [TestCase(2048UL, 512u, Description = "first sector past the end")]
    [TestCase(2047UL, 1024u, Description = "runs past the end")]
    [TestCase(0UL, 700u, Description = "not whole sectors")]
    [TestCase(ulong.MaxValue, 512u, Description = "sector number overflows")]
    public void OutOfRangeReadsGetIoErr(ulong sector, uint length)
    {
        using var rig = ModernRig();                           // 1 MiB = 2048 sectors
        var r = rig.Driver.Read(sector, length);
        Finish(rig, r);
        Assert.That(rig.Driver.StatusOf(r), Is.EqualTo(IoErr));
        Assert.That(rig.Disk.Reads, Is.EqualTo(0));
        Assert.That(rig.Blk.Broken, Is.False);
    }

    [Test]
    public void WritesToAReadOnlyDiskGetIoErrAndRoIsOffered()
    {
        using var rig = ModernRig(new VirtioBlkOptions { ReadOnly = true });
        Assert.That(rig.Driver.NegotiatedFeatures & 1UL << VirtioBlk.FeatureRo, Is.Not.Zero);
        var w = rig.Driver.Write(0, Pattern(512, 5));
        Finish(rig, w);
        Assert.That(rig.Driver.StatusOf(w), Is.EqualTo(IoErr));
        Assert.That(rig.Disk.Writes, Is.EqualTo(0));
        var seg = new byte[16];
        BitConverter.TryWriteBytes(seg.AsSpan(8), 1u);
        var wz = rig.Driver.Submit(VirtioBlkRequest.TypeWriteZeroes, 0, 16, false, payload: seg);
        Finish(rig, wz);
        Assert.That(rig.Driver.StatusOf(wz), Is.EqualTo(IoErr));
    }

    [TestCase(2u)]      // SCSI passthrough (legacy)
    [TestCase(99u)]
    [TestCase(16u)]     // zone report
    public void UnknownRequestTypesGetUnsupp(uint type)
    {
        using var rig = ModernRig();
        var r = rig.Driver.Submit(type, 0, 512, true);
        Finish(rig, r);
        Assert.That(rig.Driver.StatusOf(r), Is.EqualTo(Unsupp));
        Assert.That(rig.Blk.Broken, Is.False);
    }

    [TestCase(32, 0u, 1u, Unsupp, Description = "two segments")]
    [TestCase(16, 2u, 1u, Unsupp, Description = "unknown flag")]
    [TestCase(16, 1u, 1u, Unsupp, Description = "UNMAP on a discard")]
    [TestCase(16, 0u, 0x400000u, IoErr, Description = "more sectors than max_discard_sectors")]
    public void DiscardRequestsQemuRejects(int bytes, uint flags, uint sectors, byte expected)
    {
        using var rig = ModernRig();
        var seg = new byte[bytes];
        BitConverter.TryWriteBytes(seg.AsSpan(8), sectors);
        BitConverter.TryWriteBytes(seg.AsSpan(12), flags);
        var r = rig.Driver.Submit(VirtioBlkRequest.TypeDiscard, 0, (uint)bytes, false, payload: seg);
        Finish(rig, r);
        Assert.That(rig.Driver.StatusOf(r), Is.EqualTo(expected));
    }

    [Test]
    public void BackendFailureIsAnIoErrAndTheDeviceGoesOn()
    {
        using var rig = ModernRig();
        rig.Disk.FailNext = true;
        var r = rig.Driver.Read(0, 512);
        Finish(rig, r);
        Assert.That(rig.Driver.StatusOf(r), Is.EqualTo(IoErr));
        Assert.That(rig.Warnings, Has.Some.Contains("injected failure"));
        var again = rig.Driver.Read(0, 512);
        Finish(rig, again);
        Assert.That(rig.Driver.StatusOf(again), Is.EqualTo(Ok));
    }

    [Test]
    public void ManyRequestsAreInFlightAtOnceAndCompleteOnlyOnTheLoop()
    {
        using var rig = ModernRig();
        var data = Pattern(64 * 4096, 6);
        data.CopyTo(rig.Disk.Data, 0);
        rig.Disk.Hold();
        var reqs = Enumerable.Range(0, 64).Select(i => rig.Driver.Read((ulong)i * 8, 4096, indirect: true)).ToList();
        Assert.That(rig.Disk.InFlight, Is.EqualTo(64), "all 64 submitted before any finished");
        Assert.That(rig.Blk.Engine.InFlight, Is.EqualTo(64));
        rig.Disk.Release();
        Assert.That(SpinWait.SpinUntil(() => rig.Disk.InFlight == 0, 10_000), Is.True, "host finished");
        Assert.That(rig.Disk.CompletionThreadId, Is.Not.EqualTo(Environment.CurrentManagedThreadId));
        Assert.That(rig.Driver.UsedIdx, Is.EqualTo(0), "nothing reaches the guest until the loop runs");
        Assert.That(rig.Irq11, Is.False);
        rig.Pump(() => rig.Driver.UsedIdx == 64, "64 completions");
        rig.Driver.ReapUsed();
        for (int i = 0; i < 64; i++)
        {
            Assert.That(rig.Driver.StatusOf(reqs[i]), Is.EqualTo(Ok));
            Assert.That(rig.Driver.DataOf(reqs[i]), Is.EqualTo(data.AsSpan(i * 4096, 4096).ToArray()));
        }
        Assert.That(rig.Irq11, Is.True);
        Assert.That(rig.Blk.Engine.InFlight, Is.EqualTo(0));
    }

    [Test]
    public void EventIdxLetsTheDriverSkipInterruptsAndNotifications()
    {
        using var rig = ModernRig();
        Finish(rig, rig.Driver.Read(0, 512));
        rig.Driver.ReadIsr();
        // The driver asks for an interrupt only when used.idx passes 3 (used_event = 3).
        rig.Driver.W16(rig.Driver.Avail + 4 + 2UL * rig.Driver.QueueSize, 3);
        var r2 = rig.Driver.Read(0, 512);
        rig.Pump(() => rig.Driver.UsedIdx == 2);
        Assert.That(rig.Irq11, Is.False, "used.idx 2: not past used_event 3");
        rig.Driver.Read(0, 512);
        rig.Pump(() => rig.Driver.UsedIdx == 3);
        Assert.That(rig.Irq11, Is.False, "used.idx 3: still not past");
        rig.Driver.Read(0, 512);
        rig.Pump(() => rig.Driver.UsedIdx == 4);
        Assert.That(rig.Irq11, Is.True, "used.idx 4 passed used_event 3");
        // The device publishes avail_event = the avail index it has seen: the next buffer needs a notify.
        Assert.That(rig.Driver.R16(rig.Driver.Used + 4 + 8UL * rig.Driver.QueueSize), Is.EqualTo(rig.Driver.AvailIdx));
        ushort before = rig.Driver.AvailIdx;
        var r5 = rig.Driver.Read(0, 512, notify: false);
        Assert.That(rig.Driver.NotifyIfNeeded(before), Is.True);
        Finish(rig, r5);
        _ = r2;
    }

    [Test]
    public void DeviceResetWithRequestsInFlightDropsTheirResults()
    {
        using var rig = ModernRig();
        rig.Disk.Hold();
        rig.Driver.Read(0, 512);
        rig.Driver.Status = 0;                                // reset while the read is in flight
        Assert.That(rig.Blk.Status, Is.EqualTo(0));
        rig.Disk.Release();
        rig.Pump(() => rig.Blk.Engine.InFlight == 0, "the abandoned read to finish on the host");
        Assert.That(rig.Driver.UsedIdx, Is.EqualTo(0), "a reset device does not write old rings");
        Assert.That(rig.Irq11, Is.False);
        Assert.That(rig.Driver.InitModern(AllFeatures), Is.True);
        var r = rig.Driver.Read(0, 512);
        Finish(rig, r);
        Assert.That(rig.Driver.StatusOf(r), Is.EqualTo(Ok));
    }

    [Test]
    public void QueueResetAbandonsTheQueueUntilItIsEnabledAgain()
    {
        using var rig = ModernRig();
        Assert.That(rig.Driver.NegotiatedFeatures & 1UL << 40, Is.Not.Zero, "RING_RESET");
        rig.Disk.Hold();
        rig.Driver.Read(0, 512);
        rig.Driver.Common(22, 2, 0);
        rig.Driver.Common(58, 2, 1);                          // queue_reset
        Assert.That(rig.Driver.Common(58, 2), Is.EqualTo(1u));
        Assert.That(rig.Driver.Common(28, 2), Is.EqualTo(0u), "queue disabled");
        rig.Disk.Release();
        rig.Pump(() => rig.Blk.Engine.InFlight == 0);
        Assert.That(rig.Driver.UsedIdx, Is.EqualTo(0));
        Assert.That(rig.Blk.PooledRequests, Is.GreaterThan(0), "the request object went back to the pool");
    }

    [Test]
    public void ClearingBusMasterStopsTheDriver()
    {
        using var rig = ModernRig();
        rig.Driver.ConfigWrite(0x04, 2, 0x3);
        Assert.That(rig.Blk.DriverOk, Is.False);
    }
}
