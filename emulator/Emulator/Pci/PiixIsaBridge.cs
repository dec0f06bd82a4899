using Emulator.Bus;
using Emulator.Machine;

namespace Emulator.Pci;

/// <summary>
/// The PIIX3 PCI-to-ISA bridge (PCI 01.0, 8086:7000, as QEMU's "pc" board). It routes the four PCI interrupt
/// lines PIRQA-D to ISA IRQs through its PIRQRC registers (0x60-0x63, bit 7 = disabled; 82371SB datasheet
/// section 2.2.10), with the slot swizzle PIRQ = (pin - 1 + slot - 1) mod 4 that QEMU's board wires, and owns
/// the reset control register at port 0xCF9 (bit 2: reset, bit 1: hard reset).
/// </summary>
public sealed class PiixIsaBridge : PciDevice, IPciIrqRouter, IPortDevice
{
    public const int PirqBase = 0x60;

    private readonly IIrqSink pic;
    private readonly IMachineControl machine;
    private readonly PciBus bus;
    private readonly int[] pirqAsserted = new int[4];   // functions asserting each PIRQ line
    private ushort isaLevels;                           // ISA IRQ lines driven by PCI
    private byte resetControl;

    public PiixIsaBridge(PciBus bus, IIrqSink pic, IMachineControl machine)
        : base("PIIX3 ISA bridge", 0x8086, 0x7000, revision: 0x00, classCode: 0x060100, headerType: 0x80,
            subsystemVendor: PciHost.QemuSubsystemVendor, subsystemId: PciHost.QemuSubsystemId)
    {
        this.bus = bus;
        this.pic = pic;
        this.machine = machine;
        for (int i = 0; i < 4; i++)
        {
            Config[PirqBase + i] = 0x80;
            SetWritable(PirqBase + i, 1, 0x8F);
        }
        bus.Add(this, 1);
        bus.IrqRouter = this;
    }

    public void Register(IoPortBus io) => io.Register(0xCF9, 1, this);

    /// <summary>The PIRQ line (0 = A) a function's INTx pin reaches on QEMU's i440FX board.</summary>
    public static int PirqOf(int deviceNumber, int pin) => (pin - 1 + deviceNumber - 1) & 3;

    /// <summary>The ISA IRQ a PIRQ line is routed to, or -1 when routing is disabled.</summary>
    public int IrqOfPirq(int pirq)
    {
        byte v = Config[PirqBase + pirq];
        return (v & 0x80) != 0 ? -1 : v & 0x0F;
    }

    public void SetPirqRoute(int pirq, int irq)
    {
        Config[PirqBase + pirq] = irq < 0 ? (byte)0x80 : (byte)(irq & 0x0F);
        Recompute();
    }

    public void IntxChanged(PciDevice device) => Recompute();

    /// <summary>ORs every function's INTx onto its PIRQ line and each PIRQ onto its ISA IRQ.</summary>
    private void Recompute()
    {
        Array.Clear(pirqAsserted);
        var devices = bus.Devices;
        for (int i = 0; i < devices.Count; i++)
            if (devices[i].EffectiveIntx) pirqAsserted[PirqOf(devices[i].DeviceNumber, devices[i].InterruptPinNumber)]++;
        ushort levels = 0;
        for (int p = 0; p < 4; p++)
        {
            int irq = IrqOfPirq(p);
            // IRQ 0, 1, 2, 8 and 13 are not valid PIRQ targets (datasheet: "reserved").
            if (irq is < 3 or 8 or 13 || pirqAsserted[p] == 0) continue;
            levels |= (ushort)(1 << irq);
        }
        ushort changed = (ushort)(levels ^ isaLevels);
        isaLevels = levels;
        for (int irq = 0; irq < 16; irq++)
            if ((changed & (1 << irq)) != 0) pic.SetIrq(irq, (levels & (1 << irq)) != 0);
    }

    protected override void OnConfigWritten(int offset, int size, uint value, ushort oldCommand)
    {
        if (offset + size > PirqBase && offset < PirqBase + 4) Recompute();
    }

    public uint In(ushort port, int size) => resetControl;

    public void Out(ushort port, int size, uint value)
    {
        resetControl = (byte)(value & 0x0E);
        if ((value & 0x04) != 0)
        {
            resetControl = 0;
            machine.RequestReset("reset control register (port 0xCF9)");
        }
    }

    public override void Reset()
    {
        base.Reset();
        resetControl = 0;
        Recompute();
    }
}
