using Emulator.Bus;
using Emulator.Devices;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Devices;

public class Mc146818RtcTests
{
    private static readonly DateTimeOffset Start = new(2024, 2, 29, 23, 59, 58, TimeSpan.Zero);
    private TestTime time = null!;
    private IrqRecorder irqs = null!;
    private Mc146818Rtc rtc = null!;
    private IoPortBus io = null!;

    [SetUp]
    public void SetUp()
    {
        time = new TestTime();
        irqs = new IrqRecorder();
        rtc = new Mc146818Rtc(time.Clock, irqs.Line(8), Start);
        io = new IoPortBus();
        rtc.Register(io);
    }

    private byte Read(int index) { io.Out(0x70, 1, (uint)index); return (byte)io.In(0x71, 1); }
    private void Write(int index, int value) { io.Out(0x70, 1, (uint)index); io.Out(0x71, 1, (uint)value); }
    private static int Bcd(int v) => v / 10 << 4 | v % 10;

    [Test]
    public void TimeRegistersReadTheStartTimeInBcd()
    {
        Assert.That(Read(0), Is.EqualTo(Bcd(Start.Second)));
        Assert.That(Read(2), Is.EqualTo(Bcd(Start.Minute)));
        Assert.That(Read(4), Is.EqualTo(Bcd(Start.Hour)));
        Assert.That(Read(6), Is.EqualTo((int)Start.DayOfWeek + 1));
        Assert.That(Read(7), Is.EqualTo(Bcd(Start.Day)));
        Assert.That(Read(8), Is.EqualTo(Bcd(Start.Month)));
        Assert.That(Read(9), Is.EqualTo(Bcd(Start.Year % 100)));
        Assert.That(Read(0x32), Is.EqualTo(Bcd(Start.Year / 100)));
    }

    [Test]
    public void TimeAdvancesWithTheVirtualClockAcrossDayAndMonth()
    {
        time.Advance(3_000_000_000);                    // 2024-03-01 00:00:01
        var t = Start.AddSeconds(3);
        Assert.That(Read(0), Is.EqualTo(Bcd(t.Second)));
        Assert.That(Read(7), Is.EqualTo(Bcd(t.Day)));
        Assert.That(Read(8), Is.EqualTo(Bcd(t.Month)));
    }

    [Test]
    public void BinaryAndTwelveHourModes()
    {
        Write(0x0B, 0x04);                               // binary, 12-hour
        Assert.That(Read(0), Is.EqualTo(Start.Second));
        Assert.That(Read(4), Is.EqualTo(0x80 | 11), "23:59 is 11 PM");
        Write(0x0B, 0x06);                               // binary, 24-hour
        Assert.That(Read(4), Is.EqualTo(23));
    }

    [Test]
    public void SettingTheClockWithTheSetBit()
    {
        Write(0x0B, 0x82);                               // SET, BCD, 24h
        Write(0, 0x30); Write(2, 0x15); Write(4, 0x08);
        Write(7, 0x01); Write(8, 0x07); Write(9, 0x99); Write(0x32, 0x19);
        time.Advance(5_000_000_000);
        Assert.That(Read(0), Is.EqualTo(0x30), "frozen while SET");
        Write(0x0B, 0x02);
        time.Advance(2_500_000_000);
        Assert.That(Read(0), Is.EqualTo(0x32));
        Assert.That(Read(2), Is.EqualTo(0x15));
        Assert.That(Read(9), Is.EqualTo(0x99));
        Assert.That(rtc.GuestTime.Year, Is.EqualTo(1999));
    }

    [Test]
    public void UpdateInProgressIsSetJustBeforeEachSecond()
    {
        // Start is on a whole second; UIP is high in the last 244 us before the next one.
        time.Advance(999_700_000);                       // 300 us before: not yet
        Assert.That(Read(0x0A) & 0x80, Is.EqualTo(0));
        time.Advance(100_000);                           // 200 us before
        Assert.That(Read(0x0A) & 0x80, Is.EqualTo(0x80));
        time.Advance(300_000);
        Assert.That(Read(0x0A) & 0x80, Is.EqualTo(0));
        time.Advance(500_000_000);
        Assert.That(Read(0x0A) & 0x80, Is.EqualTo(0));
    }

    [Test]
    public void UpdateEndedInterruptFiresEverySecondUntilRegisterCIsRead()
    {
        Write(0x0B, 0x12);                               // UIE
        time.Advance(400_000_000);
        Assert.That(irqs.Level[8], Is.False);
        time.Advance(700_000_000);                       // crosses one second boundary
        Assert.That(irqs.Level[8], Is.True);
        // PF is set too (the default 1024 Hz rate runs even with PIE off); AF is not.
        Assert.That(Read(0x0C) & 0xB0, Is.EqualTo(0x80 | 0x10), "IRQF and UF");
        Assert.That(irqs.Level[8], Is.False);
        Assert.That(Read(0x0C), Is.EqualTo(0), "reading C clears it");
        time.Advance(1_000_000_000);
        Assert.That(irqs.RisingEdges[8], Is.EqualTo(2));
    }

    [Test]
    public void PeriodicInterruptRateFollowsRateSelect()
    {
        Write(0x0A, 0x26);                               // 1024 Hz
        Write(0x0B, 0x42);                               // PIE
        int interrupts = 0;
        for (int i = 0; i < 1000; i++)                   // 100 ms in 100 us steps, acknowledging like a driver
        {
            time.Advance(100_000);
            if (irqs.Level[8]) { interrupts++; Read(0x0C); }
        }
        Assert.That(interrupts, Is.InRange(102 - 1, 102 + 1), "1024 Hz for 100 ms");
    }

    [Test]
    public void PeriodicFlagIsSetWithoutInterruptWhenPieIsOff()
    {
        Write(0x0A, 0x2F);                               // 2 Hz
        time.Advance(600_000_000);
        Assert.That(Read(0x0C) & 0x40, Is.EqualTo(0x40));
        Assert.That(irqs.RisingEdges[8], Is.EqualTo(0));
    }

    [Test]
    public void AlarmInterruptFiresWhenTheTimeMatches()
    {
        var alarm = Start.AddSeconds(5);
        Write(1, Bcd(alarm.Second)); Write(3, Bcd(alarm.Minute)); Write(5, Bcd(alarm.Hour));
        Write(0x0B, 0x22);                               // AIE
        time.Advance(4_500_000_000);
        Assert.That(irqs.Level[8], Is.False);
        time.Advance(1_000_000_000);
        Assert.That(irqs.Level[8], Is.True);
        Assert.That(Read(0x0C) & 0x20, Is.EqualTo(0x20));
    }

    [Test]
    public void NvramBytesKeepTheirValuesAndRegisterDReportsValidRam()
    {
        Write(0x40, 0x5A);
        Write(0x7F, 0xA5);
        Assert.That(Read(0x40), Is.EqualTo(0x5A));
        Assert.That(Read(0x7F), Is.EqualTo(0xA5));
        Assert.That(Read(0x0D), Is.EqualTo(0x80));
        io.Out(0x70, 1, 0x80 | 0x40);
        Assert.That(rtc.NmiMasked, Is.True);
        Assert.That(io.In(0x71, 1), Is.EqualTo(0x5A), "bit 7 of the index is the NMI mask, not part of the index");
    }
}
