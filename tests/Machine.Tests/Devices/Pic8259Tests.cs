using Emulator.Bus;
using Emulator.Devices;
using NUnit.Framework;

namespace Machine.Tests.Devices;

public class Pic8259Tests
{
    private InterruptPin pin = null!;
    private Pic8259 pic = null!;
    private IoPortBus io = null!;

    [SetUp]
    public void SetUp()
    {
        pin = new InterruptPin();
        pic = new Pic8259(pin);
        io = new IoPortBus();
        pic.Register(io);
    }

    /// <summary>The ICW sequence Linux's init_8259A sends: edge, cascade, vectors 0x30/0x38, 8086 mode.</summary>
    private void InitLikeLinux(byte masterBase = 0x30, byte slaveBase = 0x38)
    {
        io.Out(0x20, 1, 0x11); io.Out(0x21, 1, masterBase); io.Out(0x21, 1, 0x04); io.Out(0x21, 1, 0x01);
        io.Out(0xA0, 1, 0x11); io.Out(0xA1, 1, slaveBase); io.Out(0xA1, 1, 0x02); io.Out(0xA1, 1, 0x01);
        io.Out(0x21, 1, 0x00);
        io.Out(0xA1, 1, 0x00);
    }

    private void Pulse(int irq) { pic.SetIrq(irq, true); pic.SetIrq(irq, false); }

    [Test]
    public void InitialisedPicDeliversVectorAndNonSpecificEoiClearsInService()
    {
        InitLikeLinux();
        Assert.That(pin.Asserted, Is.False);
        Pulse(0);
        Assert.That(pin.Asserted, Is.True);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x30));
        Assert.That(pin.Asserted, Is.False);
        Assert.That(pic.MasterIsr, Is.EqualTo(0x01));
        io.Out(0x20, 1, 0x20);                      // OCW2 non-specific EOI
        Assert.That(pic.MasterIsr, Is.EqualTo(0x00));
    }

    [Test]
    public void LowerNumberedIrqWinsAndInServiceBlocksLowerPriority()
    {
        InitLikeLinux();
        Pulse(3);
        Pulse(1);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x31));   // IRQ 1 before IRQ 3
        Assert.That(pin.Asserted, Is.False, "IRQ 3 must wait while IRQ 1 is in service");
        Pulse(0);
        Assert.That(pin.Asserted, Is.True, "IRQ 0 has higher priority than the in-service IRQ 1");
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x30));
        io.Out(0x20, 1, 0x20);                      // EOI for IRQ 0 (highest in service)
        Assert.That(pin.Asserted, Is.False);
        io.Out(0x20, 1, 0x20);                      // EOI for IRQ 1
        Assert.That(pin.Asserted, Is.True);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x33));
    }

    [Test]
    public void MaskedRequestWaitsInIrrUntilUnmasked()
    {
        InitLikeLinux();
        io.Out(0x21, 1, 0x10);                      // mask IRQ 4
        Pulse(4);
        Assert.That(pin.Asserted, Is.False);
        io.Out(0x20, 1, 0x0A);                      // OCW3: read IRR
        Assert.That(io.In(0x20, 1), Is.EqualTo(0x10));
        Assert.That(io.In(0x21, 1), Is.EqualTo(0x10), "OCW1 reads back from the odd port");
        io.Out(0x21, 1, 0x00);
        Assert.That(pin.Asserted, Is.True);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x34));
        io.Out(0x20, 1, 0x0B);                      // OCW3: read ISR
        Assert.That(io.In(0x20, 1), Is.EqualTo(0x10));
    }

    [Test]
    public void SlaveInterruptsCascadeThroughMasterIr2()
    {
        InitLikeLinux();
        Pulse(11);
        Assert.That(pin.Asserted, Is.True);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x38 + 3));
        Assert.That(pic.MasterIsr, Is.EqualTo(0x04));
        Assert.That(pic.SlaveIsr, Is.EqualTo(0x08));
        io.Out(0xA0, 1, 0x20);
        io.Out(0x20, 1, 0x20);
        Assert.That(pic.MasterIsr | pic.SlaveIsr, Is.EqualTo(0));
    }

    [Test]
    public void LevelTriggeredIrqIsRequestedAgainWhileTheLineStaysHigh()
    {
        InitLikeLinux();
        io.Out(0x4D1, 1, 0x08);                     // ELCR: IRQ 11 level
        pic.SetIrq(11, true);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x3B));
        io.Out(0xA0, 1, 0x20); io.Out(0x20, 1, 0x20);
        Assert.That(pin.Asserted, Is.True, "the device still holds the level line");
        pic.SetIrq(11, false);
        Assert.That(pic.SlaveIrr & 0x08, Is.EqualTo(0), "a level request goes away with the line");
        // The master's cascade input is edge-triggered and already latched: the INTA that follows finds no
        // slave request and yields the slave's default IR7 (datasheet: a request removed before INTA).
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x3F));
        io.Out(0x20, 1, 0x20);
        Assert.That(pin.Asserted, Is.False);

        // An edge input, in contrast, is consumed by the acknowledge.
        pic.SetIrq(10, true);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x3A));
        io.Out(0xA0, 1, 0x20); io.Out(0x20, 1, 0x20);
        Assert.That(pin.Asserted, Is.False);
    }

    [Test]
    public void ElcrCannotMakeTimerKeyboardOrCascadeLevelTriggered()
    {
        io.Out(0x4D0, 1, 0xFF);
        io.Out(0x4D1, 1, 0xFF);
        Assert.That(io.In(0x4D0, 1), Is.EqualTo(0xF8));
        Assert.That(io.In(0x4D1, 1), Is.EqualTo(0xDE));
    }

    [Test]
    public void AcknowledgeWithNothingPendingGivesSpuriousIrq7()
    {
        InitLikeLinux();
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x37));
        Assert.That(pic.SpuriousCount, Is.EqualTo(1));
        Assert.That(pic.MasterIsr, Is.EqualTo(0), "a spurious IRQ 7 is not put in service");
    }

    [Test]
    public void AutomaticEoiLeavesNothingInService()
    {
        io.Out(0x20, 1, 0x11); io.Out(0x21, 1, 0x08); io.Out(0x21, 1, 0x04); io.Out(0x21, 1, 0x03);  // ICW4: AEOI
        io.Out(0x21, 1, 0x00);
        Pulse(5);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x0D));
        Assert.That(pic.MasterIsr, Is.EqualTo(0));
        Pulse(6);
        Assert.That(pin.Asserted, Is.True, "with AEOI a lower-priority request is not blocked");
    }

    [Test]
    public void SetPriorityCommandRotatesWhichIrqWins()
    {
        InitLikeLinux();
        io.Out(0x20, 1, 0xC0 | 3);                  // OCW2 set priority: IR3 lowest, so IR4 highest
        Pulse(0);
        Pulse(4);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x34));
    }

    [Test]
    public void RotateOnNonSpecificEoiMakesServicedIrqLowest()
    {
        InitLikeLinux();
        Pulse(1);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x31));
        io.Out(0x20, 1, 0xA0);                      // rotate on non-specific EOI: IR1 becomes lowest
        Pulse(1);
        Pulse(5);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x35), "after rotation IR2..7 outrank IR1");
    }

    [Test]
    public void PollCommandReturnsHighestRequestAndAcknowledgesIt()
    {
        InitLikeLinux();
        Pulse(6);
        io.Out(0x20, 1, 0x0C);                      // OCW3 poll
        Assert.That(io.In(0x20, 1), Is.EqualTo(0x86));
        Assert.That(pic.MasterIsr, Is.EqualTo(0x40));
        io.Out(0x20, 1, 0x0C);
        Assert.That(io.In(0x20, 1), Is.EqualTo(0x00), "no request: bit 7 clear");
    }

    [Test]
    public void SpecificEoiClearsOnlyTheNamedLevel()
    {
        InitLikeLinux();
        Pulse(2 + 1);   // IRQ 3
        pic.Acknowledge();
        Pulse(1);
        pic.Acknowledge();
        Assert.That(pic.MasterIsr, Is.EqualTo(0x0A));
        io.Out(0x20, 1, 0x60 | 3);                  // specific EOI for IR3
        Assert.That(pic.MasterIsr, Is.EqualTo(0x02));
    }

    [Test]
    public void SpecialMaskModeLetsLowerPriorityThroughWhileMaskedLevelIsInService()
    {
        InitLikeLinux();
        Pulse(1);
        pic.Acknowledge();
        Pulse(4);
        Assert.That(pin.Asserted, Is.False);
        io.Out(0x21, 1, 0x02);                      // mask IR1 ...
        io.Out(0x20, 1, 0x68);                      // ... and set special mask mode
        Assert.That(pin.Asserted, Is.True);
        Assert.That(pic.Acknowledge(), Is.EqualTo(0x34));
    }
}
