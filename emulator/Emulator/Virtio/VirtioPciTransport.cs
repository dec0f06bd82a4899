using Emulator.Bus;
using Emulator.Pci;

namespace Emulator.Virtio;

/// <summary>
/// A transitional virtio PCI function (virtio 1.2 section 4.1), laid out as QEMU lays out virtio-blk-pci:
/// BAR 0 is the legacy (0.9.5) I/O register block, BAR 4/5 a 64-bit prefetchable 16 KiB memory BAR with the
/// modern structures (common configuration at 0x0000, ISR at 0x1000, device configuration at 0x2000,
/// notifications at 0x3000 with a multiplier of 4), described by vendor capabilities at 0x40-0x84 including
/// the PCI configuration access window. There is no MSI-X (the board has no APIC): interrupts go through INTA.
/// </summary>
public sealed class VirtioPciTransport : PciDevice
{
    public const ushort VirtioVendor = 0x1AF4;
    public const int CapCommon = 1, CapNotify = 2, CapIsr = 3, CapDevice = 4, CapPciCfg = 5;
    public const uint CommonOffset = 0x0000, IsrOffset = 0x1000, DeviceOffset = 0x2000, NotifyOffset = 0x3000;
    public const uint ModernBarSize = 0x4000, NotifyMultiplier = 4;
    public const int LegacyConfigOffset = 20;
    public const int ModernBarIndex = 4;
    private const ushort NoVector = 0xFFFF;

    private readonly VirtioDevice device;
    private readonly int pciCfgCap;
    private uint deviceFeatureSelect, driverFeatureSelect;
    private ushort queueSelect;

    public VirtioDevice Device => device;

    public VirtioPciTransport(string name, VirtioDevice device, uint classCode)
        : base(name, VirtioVendor, (ushort)(0x1000 + device.DeviceId - 1), revision: 0, classCode,
            subsystemVendor: VirtioVendor, subsystemId: device.DeviceId, interruptPin: 1)
    {
        this.device = device;
        uint legacySize = 32;
        while (legacySize < LegacyConfigOffset + device.ConfigLength) legacySize <<= 1;
        AddBar(0, PciBarKind.Io, legacySize, new LegacyRegisters(this), $"{name} legacy");
        AddBar(ModernBarIndex, PciBarKind.Memory64, ModernBarSize, new ModernRegisters(this), $"{name} modern", prefetchable: true);

        AddVirtioCap(CapCommon, CommonOffset, 0x1000, 16);
        AddVirtioCap(CapIsr, IsrOffset, 0x1000, 16);
        AddVirtioCap(CapDevice, DeviceOffset, 0x1000, 16);
        int notify = AddVirtioCap(CapNotify, NotifyOffset, 0x1000, 20);
        Set32(notify + 16, NotifyMultiplier);
        pciCfgCap = AddVirtioCap(CapPciCfg, 0, 0, 20);
        Config[pciCfgCap + 4] = 0;
        SetWritable(pciCfgCap + 4, 1, 0xFF);          // bar
        SetWritable(pciCfgCap + 8, 4, 0xFFFF_FFFF);   // offset
        SetWritable(pciCfgCap + 12, 4, 0xFFFF_FFFF);  // length
        SetWritable(pciCfgCap + 16, 4, 0xFFFF_FFFF);  // data

        device.InterruptChanged = () => SetIntx(device.Isr != 0);
    }

    private int AddVirtioCap(int type, uint offset, uint length, int capLength)
    {
        int at = AddCapability(0x09, capLength);
        Config[at + 2] = (byte)capLength;
        Config[at + 3] = (byte)type;
        Config[at + 4] = type == CapPciCfg ? (byte)0 : (byte)ModernBarIndex;
        Set32(at + 8, offset);
        Set32(at + 12, length);
        return at;
    }

    public override void Reset()
    {
        device.Reset();
        queueSelect = 0;
        deviceFeatureSelect = driverFeatureSelect = 0;
        base.Reset();
    }

    // ---- PCI configuration hooks -------------------------------------------------------------------------

    protected override void OnConfigWritten(int offset, int size, uint value, ushort oldCommand)
    {
        // Clearing bus-master stops the driver (QEMU: virtio_write_config).
        if ((oldCommand & CommandBusMaster) != 0 && (CommandRegister & CommandBusMaster) == 0)
            device.StopDriver();
        int data = pciCfgCap + 16;
        if (offset < data + 4 && offset + size > data) PciCfgAccess(write: true);
    }

    public override uint ReadConfig(int offset, int size)
    {
        int data = pciCfgCap + 16;
        if (offset < data + 4 && offset + size > data) PciCfgAccess(write: false);
        return base.ReadConfig(offset, size);
    }

    /// <summary>VIRTIO_PCI_CAP_PCI_CFG: an access of cap.length bytes at cap.offset of the BAR named by cap.bar,
    /// through pci_cfg_data (spec 4.1.4.9).</summary>
    private void PciCfgAccess(bool write)
    {
        int bar = Config[pciCfgCap + 4];
        uint offset = Get32(pciCfgCap + 8);
        uint length = Get32(pciCfgCap + 12);
        if (bar != ModernBarIndex || length is not (1 or 2 or 4) || offset % length != 0 || offset + length > ModernBarSize)
            return;
        var regs = (IMmioDevice)GetBar(ModernBarIndex)!.Target;
        if (write)
            regs.Write(offset, (int)length, Get32(pciCfgCap + 16) & (uint)(length == 4 ? 0xFFFF_FFFF : (1u << (8 * (int)length)) - 1));
        else
            Set32(pciCfgCap + 16, regs.Read(offset, (int)length));
    }

    // ---- device configuration (little-endian; an access reaching past the end reads all ones and is not
    //      written, as QEMU's virtio_config_read/write do) ---------------------------------------------------

    private uint ReadDeviceConfig(uint offset, int size)
    {
        if (offset + (uint)size > device.ConfigLength) return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
        uint v = 0;
        for (int i = size - 1; i >= 0; i--) v = v << 8 | device.ReadConfigByte((int)offset + i);
        return v;
    }

    private void WriteDeviceConfig(uint offset, int size, uint value)
    {
        if (offset + (uint)size > device.ConfigLength) return;
        for (int i = 0; i < size; i++) device.WriteConfigByte((int)offset + i, (byte)(value >> (8 * i)));
    }

    private VirtQueue? SelectedQueue => queueSelect < device.Queues.Length ? device.Queues[queueSelect] : null;

    // ---- legacy registers (BAR 0) -------------------------------------------------------------------------

    private sealed class LegacyRegisters(VirtioPciTransport t) : IMmioDevice
    {
        public uint Read(uint offset, int size)
        {
            var d = t.device;
            if (offset >= LegacyConfigOffset) return t.ReadDeviceConfig(offset - LegacyConfigOffset, size);
            uint v = offset switch
            {
                0 => d.LegacyFeatures,
                4 => (uint)d.DriverFeatures,
                8 => t.SelectedQueue?.LegacyPfn ?? 0,
                12 => t.SelectedQueue?.MaxSize ?? 0,
                14 => t.queueSelect,
                18 => d.Status,
                19 => d.ReadAndClearIsr(),
                _ => 0xFFFF_FFFF,
            };
            return size switch { 1 => v & 0xFF, 2 => v & 0xFFFF, _ => v };
        }

        public void Write(uint offset, int size, uint value)
        {
            var d = t.device;
            if (offset >= LegacyConfigOffset)
            {
                t.WriteDeviceConfig(offset - LegacyConfigOffset, size, value);
                return;
            }
            switch (offset)
            {
                case 4:
                    d.SetLegacyDriverFeatures(value);
                    break;
                case 8:
                    // Writing 0 to the queue address resets the whole device (QEMU, legacy interface).
                    if (value == 0) d.Reset();
                    else if (t.SelectedQueue is { } q) q.SetLegacyPfn(value);
                    break;
                case 14:
                    if (value < 1024) t.queueSelect = (ushort)value;
                    break;
                case 16:
                    d.Notify((int)(value & 0xFFFF));
                    break;
                case 18:
                    d.SetStatus((byte)value, modern: false);
                    // Old Linux drivers never set bus-master; QEMU turns it on for them at DRIVER_OK.
                    if ((value & VirtioDevice.StatusDriverOk) != 0 && !t.BusMasterEnabled)
                        t.Config[Command] |= (byte)CommandBusMaster;
                    break;
            }
        }
    }

    // ---- modern registers (BAR 4) -------------------------------------------------------------------------

    private sealed class ModernRegisters(VirtioPciTransport t) : IMmioDevice
    {
        public uint Read(uint offset, int size)
        {
            if (offset < IsrOffset) return Truncate(t.ReadCommon(offset), size);
            if (offset < DeviceOffset) return offset == IsrOffset ? t.device.ReadAndClearIsr() : 0u;
            if (offset < NotifyOffset) return t.ReadDeviceConfig(offset - DeviceOffset, size);
            return 0;
        }

        public void Write(uint offset, int size, uint value)
        {
            if (offset < IsrOffset) t.WriteCommon(offset, size, value);
            else if (offset >= DeviceOffset && offset < NotifyOffset) t.WriteDeviceConfig(offset - DeviceOffset, size, value);
            else if (offset >= NotifyOffset) t.device.Notify((int)((offset - NotifyOffset) / NotifyMultiplier));
        }

        private static uint Truncate(uint v, int size) => size switch { 1 => v & 0xFF, 2 => v & 0xFFFF, _ => v };
    }

    /// <summary>struct virtio_pci_common_cfg (spec 4.1.4.3); a narrower read returns the low bytes of the
    /// field that starts at the offset.</summary>
    private uint ReadCommon(uint offset)
    {
        var d = device;
        var q = SelectedQueue;
        return offset switch
        {
            0 => deviceFeatureSelect,
            4 => deviceFeatureSelect <= 1 ? (uint)(d.ModernFeatures >> (32 * (int)deviceFeatureSelect)) : 0,
            8 => driverFeatureSelect,
            12 => driverFeatureSelect <= 1 ? (uint)(d.DriverFeatures >> (32 * (int)driverFeatureSelect)) : 0,
            16 => NoVector,
            18 => (uint)d.Queues.Length,
            20 => d.Status,
            21 => d.ConfigGeneration,
            22 => queueSelect,
            24 => q?.Size ?? 0,
            26 => NoVector,
            28 => q is { Enabled: true } ? 1u : 0u,
            30 => queueSelect,
            32 => (uint)(q?.DescAddress ?? 0),
            36 => (uint)((q?.DescAddress ?? 0) >> 32),
            40 => (uint)(q?.AvailAddress ?? 0),
            44 => (uint)((q?.AvailAddress ?? 0) >> 32),
            48 => (uint)(q?.UsedAddress ?? 0),
            52 => (uint)((q?.UsedAddress ?? 0) >> 32),
            58 => q is { ResetPending: true } ? 1u : 0u,
            _ => 0,
        };
    }

    private void WriteCommon(uint offset, int size, uint value)
    {
        var d = device;
        var q = SelectedQueue;
        switch (offset)
        {
            case 0: deviceFeatureSelect = value; break;
            case 8: driverFeatureSelect = value; break;
            case 12: d.SetModernDriverFeatures((int)driverFeatureSelect, value); break;
            case 20: d.SetStatus((byte)value, modern: true); break;
            case 22: if (value < 1024) queueSelect = (ushort)value; break;
            case 24:
                // The driver may shrink a disabled queue to another power of two (spec 2.7).
                if (q is { Enabled: false } && value != 0 && value <= q.MaxSize && (value & (value - 1)) == 0)
                    q.Size = (ushort)value;
                break;
            case 28:
                if (q == null) break;
                if ((value & 0xFFFF) == 1) { q.Enabled = true; q.ResetPending = false; }
                else d.SetBroken($"wrong value {value} written to queue_enable");
                break;
            case 32: if (q is { Enabled: false }) q.DescAddress = SetLow(q.DescAddress, value); break;
            case 36: if (q is { Enabled: false }) q.DescAddress = SetHigh(q.DescAddress, value); break;
            case 40: if (q is { Enabled: false }) q.AvailAddress = SetLow(q.AvailAddress, value); break;
            case 44: if (q is { Enabled: false }) q.AvailAddress = SetHigh(q.AvailAddress, value); break;
            case 48: if (q is { Enabled: false }) q.UsedAddress = SetLow(q.UsedAddress, value); break;
            case 52: if (q is { Enabled: false }) q.UsedAddress = SetHigh(q.UsedAddress, value); break;
            case 58: if (q != null && (value & 0xFFFF) == 1) d.ResetQueue(q); break;
            // msix_config and queue_msix_vector: no MSI-X, the write cannot be honoured and reads stay NO_VECTOR.
        }
    }

    private static ulong SetLow(ulong v, uint low) => (v & 0xFFFF_FFFF_0000_0000) | low;
    private static ulong SetHigh(ulong v, uint high) => (v & 0xFFFF_FFFF) | (ulong)high << 32;

    /// <summary>Helper for tests and the boot code: the modern BAR's guest address (0 when unassigned).</summary>
    public ulong ModernBarAddress => BarAddress(GetBar(ModernBarIndex)!);

    /// <summary>The legacy BAR's I/O port base (0 when unassigned).</summary>
    public ushort LegacyPort => (ushort)BarAddress(GetBar(0)!);
}
