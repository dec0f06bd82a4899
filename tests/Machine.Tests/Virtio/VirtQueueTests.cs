using System.Buffers.Binary;
using Emulator.Bus;
using Emulator.Virtio;
using NUnit.Framework;

namespace Machine.Tests.Virtio;

public class VirtQueueTests
{
    private MemoryBus mem = null!;
    private VirtQueue q = null!;
    private VirtqBuffer[] buffers = new VirtqBuffer[2];
    private const ulong Desc = 0x10000, Avail = 0x20000, Used = 0x30000;

    [SetUp]
    public void SetUp()
    {
        mem = new MemoryBus(1 << 20);
        q = new VirtQueue(mem, 0, 8) { DescAddress = Desc, AvailAddress = Avail, UsedAddress = Used, Enabled = true };
        buffers = new VirtqBuffer[2];
    }

    private void W16(ulong a, ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); mem.DmaWrite(a, b); }
    private ushort R16(ulong a) { var b = new byte[2]; mem.DmaRead(a, b); return BinaryPrimitives.ReadUInt16LittleEndian(b); }
    private uint R32(ulong a) { var b = new byte[4]; mem.DmaRead(a, b); return BinaryPrimitives.ReadUInt32LittleEndian(b); }

    private void Descriptor(ulong table, int i, ulong addr, uint len, ushort flags, ushort next)
    {
        var d = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(8), len);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(12), flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(14), next);
        mem.DmaWrite(table + 16UL * (uint)i, d);
    }

    private void MakeAvailable(params ushort[] heads)
    {
        ushort idx = R16(Avail + 2);
        foreach (var h in heads) { W16(Avail + 4 + 2UL * (uint)(idx % 8), h); idx++; }
        W16(Avail + 2, idx);
    }

    [Test]
    public void LegacyLayoutPutsTheUsedRingOnTheNextPageAfterTheAvailableRing()
    {
        var legacy = new VirtQueue(mem, 0, 256);
        legacy.SetLegacyPfn(0x40);
        ulong desc = 0x40UL << 12;
        ulong availEnd = desc + 16 * 256 + 2 * (3 + 256);       // flags, idx, ring[256], used_event
        Assert.That(legacy.DescAddress, Is.EqualTo(desc));
        Assert.That(legacy.AvailAddress, Is.EqualTo(desc + 16 * 256));
        Assert.That(legacy.UsedAddress, Is.EqualTo((availEnd + 4095) / 4096 * 4096));
        Assert.That(legacy.LegacyPfn, Is.EqualTo(0x40u));
    }

    [TestCase((ushort)5, (ushort)8, (ushort)5, true)]
    [TestCase((ushort)5, (ushort)8, (ushort)7, true)]
    [TestCase((ushort)5, (ushort)8, (ushort)8, false)]
    [TestCase((ushort)5, (ushort)8, (ushort)4, false)]
    [TestCase((ushort)65534, (ushort)2, (ushort)0, true)]
    [TestCase((ushort)65534, (ushort)2, (ushort)65533, false)]
    public void NeedEventIsTrueWhenTheEventIndexWasPassed(ushort old, ushort now, ushort eventIdx, bool expected)
    {
        // The spec's rule: notify when the new entries include index event_idx + 1, i.e. event in [old, new).
        bool passed = false;
        for (ushort i = old; i != now; i++) if (i == eventIdx) passed = true;
        Assert.That(passed, Is.EqualTo(expected), "test case itself");
        Assert.That(VirtQueue.NeedEvent(eventIdx, now, old), Is.EqualTo(expected));
    }

    [Test]
    public void PopWalksADirectChainInOrder()
    {
        Descriptor(Desc, 3, 0x50000, 16, VirtQueue.DescNext, 5);
        Descriptor(Desc, 5, 0x51000, 512, VirtQueue.DescNext | VirtQueue.DescWrite, 1);
        Descriptor(Desc, 1, 0x52000, 1, VirtQueue.DescWrite, 0);
        MakeAvailable(3);
        Assert.That(q.Pop(ref buffers, out int count, out ushort head), Is.EqualTo(PopResult.Chain));
        Assert.That(head, Is.EqualTo(3));
        Assert.That(count, Is.EqualTo(3));
        Assert.That(buffers.Take(3).Select(b => (b.Address, b.Length, b.Writable)),
            Is.EqualTo(new[] { (0x50000UL, 16u, false), (0x51000UL, 512u, true), (0x52000UL, 1u, true) }));
        Assert.That(q.InFlight, Is.EqualTo(1));
        Assert.That(q.Pop(ref buffers, out _, out _), Is.EqualTo(PopResult.Empty));
    }

    [Test]
    public void PopFollowsAnIndirectTable()
    {
        const ulong table = 0x60000;
        Descriptor(table, 0, 0x50000, 16, VirtQueue.DescNext, 1);
        Descriptor(table, 1, 0x51000, 4096, VirtQueue.DescNext | VirtQueue.DescWrite, 2);
        Descriptor(table, 2, 0x52000, 1, VirtQueue.DescWrite, 0);
        Descriptor(Desc, 0, table, 48, VirtQueue.DescIndirect, 0);
        MakeAvailable(0);
        Assert.That(q.Pop(ref buffers, out int count, out _), Is.EqualTo(PopResult.Chain));
        Assert.That(count, Is.EqualTo(3), "the buffer array grew as needed");
        Assert.That(buffers[1].Length, Is.EqualTo(4096u));
    }

    [Test]
    public void PushPublishesTheUsedElementAndIndex()
    {
        Descriptor(Desc, 2, 0x50000, 16, 0, 0);
        MakeAvailable(2);
        q.Pop(ref buffers, out _, out ushort head);
        Assert.That(q.Push(head, 513), Is.True);
        Assert.That(R16(Used + 2), Is.EqualTo(1));
        Assert.That(R32(Used + 4), Is.EqualTo(2u));
        Assert.That(R32(Used + 8), Is.EqualTo(513u));
        Assert.That(q.InFlight, Is.EqualTo(0));
    }

    [Test]
    public void EventIdxSuppressionWritesAvailEventAndHonoursUsedEvent()
    {
        q.EventIdx = true;
        MakeAvailable(0, 1);
        q.SetNotification(true);
        Assert.That(R16(Used + 4 + 8 * 8), Is.EqualTo(2), "avail_event = the driver's avail.idx");
        Descriptor(Desc, 0, 0x50000, 16, 0, 0);
        Descriptor(Desc, 1, 0x50000, 16, 0, 0);
        q.Pop(ref buffers, out _, out ushort h0);
        q.Pop(ref buffers, out _, out ushort h1);
        W16(Avail + 4 + 2 * 8, 1);                     // used_event: interrupt when used.idx passes 1
        q.Push(h0, 0);
        Assert.That(q.ShouldInterrupt(), Is.True, "the first notification after a reset always interrupts");
        q.Push(h1, 0);
        Assert.That(q.ShouldInterrupt(), Is.True, "used.idx went from 1 to 2, past used_event 1");
        Assert.That(q.ShouldInterrupt(), Is.False, "nothing new");
    }

    [Test]
    public void NoInterruptFlagSuppressesInterruptsWithoutEventIdx()
    {
        W16(Avail, VirtQueue.AvailNoInterrupt);
        Assert.That(q.ShouldInterrupt(), Is.False);
        W16(Avail, 0);
        Assert.That(q.ShouldInterrupt(), Is.True);
    }

    [Test]
    public void NotificationFlagWithoutEventIdxTogglesUsedFlags()
    {
        q.SetNotification(false);
        Assert.That(R16(Used) & VirtQueue.UsedNoNotify, Is.EqualTo(1));
        q.SetNotification(true);
        Assert.That(R16(Used) & VirtQueue.UsedNoNotify, Is.EqualTo(0));
    }
}
