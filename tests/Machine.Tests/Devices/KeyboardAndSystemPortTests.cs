using Emulator.Bus;
using Emulator.Devices;
using Emulator.Machine;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Devices;

public class KeyboardAndSystemPortTests
{
    private sealed class Control : IMachineControl
    {
        public readonly List<string> Resets = new();
        public (int Code, string Reason)? Exit;
        public void RequestReset(string reason) => Resets.Add(reason);
        public void RequestExit(int exitCode, string reason) => Exit = (exitCode, reason);
    }

    private MemoryBus memory = null!;
    private IoPortBus io = null!;
    private IrqRecorder irqs = null!;
    private Control control = null!;
    private A20Gate a20 = null!;

    [SetUp]
    public void SetUp()
    {
        memory = new MemoryBus(4 << 20);
        io = new IoPortBus();
        irqs = new IrqRecorder();
        control = new Control();
        a20 = new A20Gate(memory);
        new I8042(irqs.Line(1), irqs.Line(12), a20, control).Register(io);
        new SystemControlPortA(a20, control).Register(io);
    }

    [Test]
    public void SelfTestAnswers55AndSetsTheSystemFlag()
    {
        io.Out(0x64, 1, 0xAA);
        Assert.That(io.In(0x64, 1) & 0x05, Is.EqualTo(0x05), "output buffer full, system flag");
        Assert.That(io.In(0x60, 1), Is.EqualTo(0x55));
        Assert.That(io.In(0x64, 1) & 0x01, Is.EqualTo(0));
    }

    [Test]
    public void CommandByteIsReadAndWritten()
    {
        io.Out(0x64, 1, 0x60);
        io.Out(0x60, 1, 0x65);
        io.Out(0x64, 1, 0x20);
        Assert.That(io.In(0x60, 1), Is.EqualTo(0x65));
    }

    [Test]
    public void PulseFeResetsTheMachineAsLinuxRebootDoes()
    {
        Assert.That(io.In(0x64, 1) & 0x02, Is.EqualTo(0), "kb_wait: input buffer empty");
        io.Out(0x64, 1, 0xFE);
        Assert.That(control.Resets, Has.Count.EqualTo(1));
    }

    [Test]
    public void OutputPortControlsA20AndReset()
    {
        io.Out(0x64, 1, 0xD1);
        io.Out(0x60, 1, 0x01);                         // A20 off, reset line high (not asserted)
        Assert.That(memory.A20Enabled, Is.False);
        Assert.That(memory.A20Mask, Is.EqualTo(~(1u << 20)));
        io.Out(0x64, 1, 0xD0);
        Assert.That(io.In(0x60, 1) & 0x03, Is.EqualTo(0x01));
        io.Out(0x64, 1, 0xD1);
        io.Out(0x60, 1, 0x03);
        Assert.That(memory.A20Enabled, Is.True);
        Assert.That(control.Resets, Is.Empty);
        io.Out(0x64, 1, 0xD1);
        io.Out(0x60, 1, 0x02);                         // bit 0 low: CPU reset
        Assert.That(control.Resets, Has.Count.EqualTo(1));
    }

    [Test]
    public void KeyboardResetAnswersAckAndPassAndRaisesIrq1()
    {
        io.Out(0x60, 1, 0xFF);
        Assert.That(irqs.Level[1], Is.True);
        Assert.That(io.In(0x60, 1), Is.EqualTo(0xFA));
        Assert.That(io.In(0x60, 1), Is.EqualTo(0xAA));
        Assert.That(irqs.Level[1], Is.False);
        io.Out(0x60, 1, 0xF2);
        Assert.That(new[] { io.In(0x60, 1), io.In(0x60, 1), io.In(0x60, 1) }, Is.EqualTo(new uint[] { 0xFA, 0xAB, 0x83 }));
    }

    [Test]
    public void EachQueuedByteIsANewIrq1Edge_OneByteRead_PerInterrupt()
    {
        // Linux's i8042_interrupt reads one byte per IRQ 1; the edge-triggered ISA line needs a rising edge for
        // every byte that moves into the output buffer, or the identify reply's 2nd and 3rd bytes never arrive.
        io.Out(0x60, 1, 0xF2);                         // identify: FA AB 83
        Assert.That(irqs.RisingEdges[1], Is.EqualTo(1));
        for (int k = 0; k < 3; k++)
        {
            Assert.That(irqs.Level[1], Is.True, $"byte {k} raises IRQ 1");
            io.In(0x60, 1);
        }
        Assert.That(irqs.RisingEdges[1], Is.EqualTo(3), "one rising edge per byte");
        Assert.That(irqs.Level[1], Is.False, "output buffer empty");
    }

    [Test]
    public void IdentifyAnswersAb41_WhenTheControllerTranslates()
    {
        io.Out(0x64, 1, 0x60);
        io.Out(0x60, 1, 0x41);                         // command byte: translate (bit 6), keyboard interrupt
        io.Out(0x60, 1, 0xF2);
        Assert.That(new[] { io.In(0x60, 1), io.In(0x60, 1), io.In(0x60, 1) }, Is.EqualTo(new uint[] { 0xFA, 0xAB, 0x41 }));
    }

    [Test]
    public void AuxLoopbackRaisesIrq12_WhenCommandByteBit1IsSet()
    {
        // Linux's i8042_check_aux: 0xD3 writes a byte to the aux output buffer and waits for IRQ 12.
        io.Out(0x64, 1, 0xD3);
        io.Out(0x60, 1, 0xA5);
        Assert.That(io.In(0x64, 1) & 0x21, Is.EqualTo(0x21), "output buffer full with aux data");
        Assert.That(irqs.Level[12], Is.True, "IRQ 12 (reset command byte 0x03 enables it)");
        Assert.That(irqs.Level[1], Is.False, "not the keyboard's IRQ");
        Assert.That(io.In(0x60, 1), Is.EqualTo(0xA5));
        Assert.That(irqs.Level[12], Is.False);

        io.Out(0x64, 1, 0x60);
        io.Out(0x60, 1, 0x01);                         // aux interrupt off
        io.Out(0x64, 1, 0xD3);
        io.Out(0x60, 1, 0x5A);
        Assert.That(irqs.Level[12], Is.False);
        Assert.That(io.In(0x60, 1), Is.EqualTo(0x5A));
    }

    [Test]
    public void ByteForTheAbsentMouse_TimesOutWithResend()
    {
        io.Out(0x64, 1, 0xD4);
        io.Out(0x60, 1, 0xF2);                         // identify, to the aux device
        Assert.That(io.In(0x64, 1) & 0x61, Is.EqualTo(0x61), "output buffer full, aux data, time-out");
        Assert.That(irqs.Level[12], Is.True);
        Assert.That(io.In(0x60, 1), Is.EqualTo(0xFE), "resend: nothing answered");
        Assert.That(io.In(0x64, 1) & 0x61, Is.EqualTo(0), "time-out bit cleared with the byte");
    }

    [Test]
    public void KeyboardInterruptFollowsCommandByteBit0()
    {
        io.Out(0x64, 1, 0x60);
        io.Out(0x60, 1, 0x00);                         // interrupts off
        io.Out(0x60, 1, 0xEE);                         // echo
        Assert.That(irqs.Level[1], Is.False);
        Assert.That(io.In(0x60, 1), Is.EqualTo(0xEE));
    }

    [Test]
    public void Port92ControlsFastA20AndFastReset()
    {
        io.Out(0x64, 1, 0xDD);                         // keyboard controller A20 off
        Assert.That(memory.A20Enabled, Is.False);
        io.Out(0x92, 1, 0x02);
        Assert.That(memory.A20Enabled, Is.True);
        Assert.That(io.In(0x92, 1) & 0x02, Is.EqualTo(0x02));
        io.Out(0x92, 1, 0x00);
        Assert.That(memory.A20Enabled, Is.False);
        io.Out(0x92, 1, 0x01);
        Assert.That(control.Resets, Has.Count.EqualTo(1), "0 -> 1 on bit 0 resets");
        io.Out(0x92, 1, 0x01);
        Assert.That(control.Resets, Has.Count.EqualTo(1), "no edge, no reset");
    }

    [Test]
    public void IsaDebugExitTurnsTheValueIntoAnExitCode()
    {
        new IsaDebugExit(control, 0xF4, 4).Register(io);
        io.Out(0xF4, 1, 0x10);
        Assert.That(control.Exit?.Code, Is.EqualTo(0x21), "(0x10 << 1) | 1, as QEMU's isa-debug-exit");
    }

    [Test]
    public void DebugConsoleForwardsBytesAndAnswersE9()
    {
        var sink = new CaptureBackend();
        new DebugConsole(sink).Register(io);
        foreach (char c in "SeaBIOS") io.Out(0x402, 1, c);
        Assert.That(sink.Text, Is.EqualTo("SeaBIOS"));
        Assert.That(io.In(0x402, 1), Is.EqualTo(0xE9));
    }
}
