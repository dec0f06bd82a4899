using Emulator.Bus;
using Emulator.Devices;
using Emulator.Machine;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Devices;

public class Uart16550Tests
{
    private const ushort Com1 = 0x3F8;
    private TestTime time = null!;
    private IrqRecorder irqs = null!;
    private CaptureBackend line = null!;
    private Uart16550 uart = null!;
    private IoPortBus io = null!;
    private EventLoop loop = null!;

    [SetUp]
    public void SetUp()
    {
        time = new TestTime();
        irqs = new IrqRecorder();
        line = new CaptureBackend();
        uart = new Uart16550(Com1, time.Clock, irqs.Line(4), line);
        io = new IoPortBus();
        uart.Register(io);
        loop = new EventLoop(time.Clock);
        line.Attach(loop, uart);
    }

    [TearDown]
    public void TearDown() => loop.Dispose();

    private uint In(int reg) => io.In((ushort)(Com1 + reg), 1);
    private void Out(int reg, uint v) => io.Out((ushort)(Com1 + reg), 1, v);

    [Test]
    public void PassesLinuxAutoconfigAs16550A()
    {
        // serial8250 autoconfig: scratch register, IER low nibble, loopback status, FIFO type in IIR.
        Out(7, 0xA5);
        Assert.That(In(7), Is.EqualTo(0xA5));
        Out(1, 0);
        Assert.That(In(1) & 0x0F, Is.EqualTo(0));
        Out(1, 0xFF);
        Assert.That(In(1), Is.EqualTo(0x0F), "only IER bits 0-3 exist on a 16550A");
        Out(1, 0);
        Out(4, 0x10 | 0x0A);                           // loopback with RTS and OUT2
        Assert.That(In(6) & 0xF0, Is.EqualTo(0x90), "CTS and DCD follow RTS and OUT2 in loopback");
        Out(4, 0);
        Out(2, 0x01);                                   // enable FIFOs
        Assert.That(In(2) >> 6, Is.EqualTo(3), "IIR bits 7:6 = 11: 16550A FIFOs");
    }

    [Test]
    public void TransmittedBytesReachTheBackendAndTheTransmitterIsEmptyAgain()
    {
        foreach (char c in "ok\n") Out(0, c);
        Assert.That(line.Text, Is.EqualTo("ok\n"));
        Assert.That(In(5) & 0x60, Is.EqualTo(0x60), "THRE and TEMT");
    }

    [Test]
    public void ThreInterruptIsRaisedOnEnableClearedByIirReadAndRaisedAgainByTransmit()
    {
        Out(1, 0x02);                                   // ETBEI with THR empty: interrupt at once
        Assert.That(irqs.Level[4], Is.True);
        Assert.That(In(2), Is.EqualTo(0x02));
        Assert.That(irqs.Level[4], Is.False, "reading IIR with THRE pending clears it");
        Assert.That(In(2), Is.EqualTo(0x01));
        Out(0, (byte)'x');
        Assert.That(irqs.Level[4], Is.True);
    }

    [Test]
    public void ReceiveDataInterruptAtTriggerLevelAndCharacterTimeoutBelowIt()
    {
        Out(2, 0x41);                                   // FIFO on, trigger level 4
        Out(1, 0x01);                                   // ERBFI
        line.Type("abc");
        loop.RunPostedWork();
        Assert.That(In(5) & 1, Is.EqualTo(1), "data ready");
        Assert.That(irqs.Level[4], Is.False, "3 bytes are below the trigger level");
        // Character timeout: 4 character times at the reset rate (9600 baud, 8N1 = 10 bits).
        long charNs = 10 * 12 * 1_000_000_000L / 115_200;
        time.Advance(4 * charNs + 1);
        Assert.That(irqs.Level[4], Is.True);
        Assert.That(In(2) & 0x0F, Is.EqualTo(0x0C));
        Assert.That((char)In(0), Is.EqualTo('a'));
        line.Type("defg");
        loop.RunPostedWork();
        Assert.That(In(2) & 0x0F, Is.EqualTo(0x04), "6 bytes reach trigger level 4");
    }

    [Test]
    public void InputBeyondTheFifoWaitsInTheBackendAndNothingIsLost()
    {
        Out(2, 0x01);
        string text = string.Concat(Enumerable.Range(0, 40).Select(i => (char)('A' + i % 26)));
        line.Type(text);
        loop.RunPostedWork();
        Assert.That(uart.ReceiveFifoCount, Is.EqualTo(16));
        var got = new System.Text.StringBuilder();
        while ((In(5) & 1) != 0) got.Append((char)In(0));
        Assert.That(got.ToString(), Is.EqualTo(text));
        Assert.That(In(5) & 0x02, Is.EqualTo(0), "no overrun");
    }

    [Test]
    public void DivisorLatchIsReachedWithDlab()
    {
        Out(3, 0x80);
        Out(0, 0x01); Out(1, 0x00);                     // 115200 baud
        Assert.That(In(0), Is.EqualTo(1));
        Assert.That(In(1), Is.EqualTo(0));
        Out(3, 0x03);
        Assert.That(In(1), Is.EqualTo(0), "IER, not the divisor, once DLAB is clear");
    }

    [Test]
    public void LoopbackSendsTransmittedBytesToTheReceiver()
    {
        Out(4, 0x10);
        Out(0, 0x42);
        Assert.That(line.Output, Is.Empty);
        Assert.That(In(5) & 1, Is.EqualTo(1));
        Assert.That(In(0), Is.EqualTo(0x42));
    }

    [Test]
    public void ModemStatusDeltasRaiseTheModemInterrupt()
    {
        Out(1, 0x08);                                   // EDSSI
        Out(4, 0x10);                                   // loopback with all outputs low: CTS/DSR/DCD drop
        Assert.That(irqs.Level[4], Is.True);
        Assert.That(In(2), Is.EqualTo(0x00));
        uint msr = In(6);
        Assert.That(msr & 0x0F, Is.EqualTo(0x0B), "DCTS, DDSR and DDCD");
        Assert.That(irqs.Level[4], Is.False, "reading MSR clears the deltas");
    }
}
