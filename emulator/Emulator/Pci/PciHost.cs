using Emulator.Bus;

namespace Emulator.Pci;

/// <summary>
/// The i440FX host bridge (PCI 00.0, 8086:1237 rev 02, as QEMU's "pc" board) and PCI configuration mechanism #1:
/// the address register at 0xCF8 (32-bit accesses only) and the data window at 0xCFC-0xCFF. Its PAM registers
/// (0x59-0x5F, 82441FX datasheet section 3.2.12) route reads and writes of 0xC0000-0xFFFFF to shadow RAM or to
/// the ROM/PCI side, which is how firmware copies itself into RAM and write-protects it.
/// </summary>
public sealed class PciHost : PciDevice, IPortDevice
{
    public const int PamBase = 0x59, Smram = 0x72;
    /// <summary>QEMU gives its own devices this subsystem ID unless they set one (Red Hat / "QEMU").</summary>
    public const ushort QemuSubsystemVendor = 0x1AF4, QemuSubsystemId = 0x1100;

    private readonly PciBus bus;
    private uint address;

    public PciHost(PciBus bus)
        : base("i440FX host bridge", 0x8086, 0x1237, revision: 0x02, classCode: 0x060000,
            subsystemVendor: QemuSubsystemVendor, subsystemId: QemuSubsystemId)
    {
        this.bus = bus;
        for (int i = 0; i < 7; i++) SetWritable(PamBase + i, 1, i == 0 ? 0x30u : 0x33u);
        Config[Smram] = 0x02;
        SetWritable(Smram, 1, 0x78);
        bus.Add(this, 0);
    }

    public PciBus PciBus => bus;

    public void Register(IoPortBus io)
    {
        io.Register(0xCF8, 1, this);
        io.Register(0xCFC, 4, this);
    }

    public uint ConfigAddress => address;

    // ---- configuration mechanism #1 ------------------------------------------------------------------

    public uint In(ushort port, int size)
    {
        if (port == 0xCF8) return size == 4 ? address : Ones(size);
        if ((address & 0x8000_0000) == 0 || ((address >> 16) & 0xFF) != 0) return Ones(size);
        int devfn = (int)(address >> 8) & 0xFF;
        int offset = (int)(address & 0xFC) | (port & 3);
        return bus.ReadConfig(devfn, offset, size);
    }

    public void Out(ushort port, int size, uint value)
    {
        if (port == 0xCF8)
        {
            if (size == 4) address = value;        // byte and word writes to 0xCF8 are not config cycles
            return;
        }
        if ((address & 0x8000_0000) == 0 || ((address >> 16) & 0xFF) != 0) return;
        int devfn = (int)(address >> 8) & 0xFF;
        int offset = (int)(address & 0xFC) | (port & 3);
        bus.WriteConfig(devfn, offset, size, value);
    }

    private static uint Ones(int size) => size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };

    // ---- PAM -------------------------------------------------------------------------------------------

    protected override void OnConfigWritten(int offset, int size, uint value, ushort oldCommand)
    {
        if (offset + size > PamBase && offset < PamBase + 7) ApplyPam();
    }

    /// <summary>Applies PAM0-PAM6: per segment, bit 0 = reads from RAM, bit 1 = writes to RAM.</summary>
    public void ApplyPam()
    {
        var memory = bus.Memory;
        int pam0 = Config[PamBase] >> 4;
        memory.SetShadow(0xF0000, 0x10000, (pam0 & 1) != 0, (pam0 & 2) != 0);
        for (int i = 1; i < 7; i++)
        {
            byte v = Config[PamBase + i];
            uint low = 0xC0000 + (uint)(i - 1) * 0x8000;
            memory.SetShadow(low, 0x4000, (v & 1) != 0, (v & 2) != 0);
            memory.SetShadow(low + 0x4000, 0x4000, (v & 0x10) != 0, (v & 0x20) != 0);
        }
    }

    /// <summary>Sets every PAM segment at once (the direct kernel boot leaves 0xC0000-0xFFFFF as plain RAM).</summary>
    public void SetAllPam(byte value)
    {
        Config[PamBase] = (byte)(value & 0x30);
        for (int i = 1; i < 7; i++) Config[PamBase + i] = (byte)(value & 0x33);
        ApplyPam();
    }

    public byte GetPam(int index) => Config[PamBase + index];

    public override void Reset()
    {
        base.Reset();
        address = 0;
        ApplyPam();
    }
}
