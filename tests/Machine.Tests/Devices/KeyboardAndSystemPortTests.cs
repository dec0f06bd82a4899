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
        new I8042(irqs.Line(1), a20, control).Register(io);
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
