using Emulator.Bus;
using Emulator.Devices;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Devices;

public class Pit8254Tests
{
    private const double Hz = 1_193_182;
    private TestTime time = null!;
    private IrqRecorder irqs = null!;
    private Pit8254 pit = null!;
    private SystemControlPortB portB = null!;
    private IoPortBus io = null!;

    [SetUp]
    public void SetUp()
    {
        time = new TestTime();
        irqs = new IrqRecorder();
        pit = new Pit8254(time.Clock, irqs.Line(0));
        portB = new SystemControlPortB(pit, time.Clock);
        io = new IoPortBus();
        pit.Register(io);
        portB.Register(io);
    }

    private static long Ticks(long ns) => (long)Math.Floor(ns * Hz / 1e9);

    private void LoadWord(int channel, int mode, int count)
    {
        io.Out(0x43, 1, (uint)(channel << 6 | 0x30 | mode << 1));
        io.Out((ushort)(0x40 + channel), 1, (uint)(count & 0xFF));
        io.Out((ushort)(0x40 + channel), 1, (uint)(count >> 8));
    }

    private int LatchAndRead(int channel)
    {
        io.Out(0x43, 1, (uint)(channel << 6));
        int lo = (int)io.In((ushort)(0x40 + channel), 1);
        int hi = (int)io.In((ushort)(0x40 + channel), 1);
        return lo | hi << 8;
    }

    [Test]
    public void Mode2OnChannel0GivesOneIrq0EdgePerPeriod()
    {
        const int count = 4773;                        // Linux's HZ=250 reload: 1193182 / 250, rounded
        LoadWord(0, 2, count);
        time.Advance(1_000_000_000);
        long expected = Ticks(1_000_000_000) / count;  // whole periods in one second
        Assert.That(irqs.RisingEdges[0], Is.EqualTo(expected));
    }

    [Test]
    public void LatchedCountFollowsTheDatasheetCountdown()
    {
        LoadWord(0, 2, 1000);
        long elapsed = 123_456;
        time.Advance(elapsed);
        int expected = 1000 - (int)(Ticks(elapsed) % 1000);
        Assert.That(LatchAndRead(0), Is.EqualTo(expected));
    }

    [Test]
    public void LatchHoldsValueWhileCounterKeepsRunning()
    {
        LoadWord(2, 0, 0xFFFF);
        io.Out(0x61, 1, 1);                             // gate channel 2 on
        time.Advance(10_000);
        io.Out(0x43, 1, 0x80);                          // latch channel 2
        time.Advance(500_000);
        int lo = (int)io.In(0x42, 1), hi = (int)io.In(0x42, 1);
        Assert.That(lo | hi << 8, Is.EqualTo(0xFFFF - Ticks(10_000)), "the latch was taken before the second wait");
        int live = (int)io.In(0x42, 1) | (int)io.In(0x42, 1) << 8;
        Assert.That(live, Is.EqualTo(0xFFFF - Ticks(510_000)));
    }

    [Test]
    public void Channel2TerminalCountIsVisibleOnPort61Bit5()
    {
        // What Linux's pit_calibrate_tsc does: gate on, mode 0, poll OUT2 through port 0x61.
        io.Out(0x61, 1, (io.In(0x61, 1) & ~0x02u) | 0x01);
        LoadWord(2, 0, 11932);
        long tc = (long)Math.Ceiling(11932 * 1e9 / Hz);
        time.Advance(tc - 2_000);
        Assert.That(io.In(0x61, 1) & 0x20, Is.EqualTo(0));
        time.Advance(2_000);
        Assert.That(io.In(0x61, 1) & 0x20, Is.EqualTo(0x20));
        Assert.That(io.In(0x61, 1) & 0x01, Is.EqualTo(1), "the gate bit reads back");
    }

    [Test]
    public void Mode3SquareWaveIsHighForTheFirstHalfOfEachPeriod()
    {
        io.Out(0x61, 1, 1);
        LoadWord(2, 3, 1000);
        long period = (long)(1000 * 1e9 / Hz);
        time.Advance(period / 4);
        Assert.That(pit.GetOutput(2), Is.True);
        time.Advance(period / 2);
        Assert.That(pit.GetOutput(2), Is.False);
        time.Advance(period / 2);
        Assert.That(pit.GetOutput(2), Is.True);
    }

    [Test]
    public void Mode3CountsDownByTwos()
    {
        LoadWord(0, 3, 1000);
        long elapsed = 50_000;
        time.Advance(elapsed);
        int expected = 1000 - (int)(2 * Ticks(elapsed) % 1000);
        Assert.That(LatchAndRead(0), Is.EqualTo(expected));
    }

    [Test]
    public void Mode0OnChannel0RaisesIrq0OnceAtTerminalCount()
    {
        LoadWord(0, 0, 1193);                          // about 1 ms
        time.Advance(500_000);
        Assert.That(irqs.Level[0], Is.False);
        time.Advance(1_000_000);
        Assert.That(irqs.Level[0], Is.True);
        time.Advance(100_000_000);
        Assert.That(irqs.RisingEdges[0], Is.EqualTo(1), "one-shot: no further interrupts");
        LoadWord(0, 0, 1193);
        Assert.That(irqs.Level[0], Is.False, "a new count sends OUT low");
    }

    [Test]
    public void ReadBackStatusReportsOutputAccessModeAndMode()
    {
        io.Out(0x61, 1, 1);
        LoadWord(2, 0, 100);
        time.Advance(1_000_000);                      // well past terminal count: OUT high
        io.Out(0x43, 1, 0xE8);                         // read-back: status only, channel 2
        uint status = io.In(0x42, 1);
        Assert.That(status, Is.EqualTo(0x80u | 0x30 | 0 << 1), "OUT=1, null count clear, LSB/MSB, mode 0, binary");
    }

    [Test]
    public void BcdModeCountsInDecimal()
    {
        io.Out(0x43, 1, 0x30 | 2 << 1 | 1);            // channel 0, word, mode 2, BCD
        io.Out(0x40, 1, 0x00);
        io.Out(0x40, 1, 0x10);                         // 1000 in BCD
        long elapsed = 100_000;
        time.Advance(elapsed);
        int value = 1000 - (int)(Ticks(elapsed) % 1000);
        int bcd = value % 10 | (value / 10 % 10) << 4 | (value / 100 % 10) << 8 | (value / 1000) << 12;
        Assert.That(LatchAndRead(0), Is.EqualTo(bcd));
    }

    [Test]
    public void LsbOnlyAccessLoadsAndReadsOneByte()
    {
        io.Out(0x43, 1, 0x10 | 2 << 1);                // channel 0, LSB only, mode 2
        io.Out(0x40, 1, 200);
        time.Advance(10_000);
        io.Out(0x43, 1, 0x00);
        Assert.That(io.In(0x40, 1), Is.EqualTo(200 - Ticks(10_000) % 200));
    }

    [Test]
    public void RisingGateRestartsMode2Count()
    {
        io.Out(0x61, 1, 1);
        LoadWord(2, 2, 5000);
        time.Advance(1_000_000);
        io.Out(0x61, 1, 0);
        io.Out(0x61, 1, 1);                             // rising gate edge: reload
        Assert.That(LatchAndRead(2), Is.EqualTo(5000));
    }
}
