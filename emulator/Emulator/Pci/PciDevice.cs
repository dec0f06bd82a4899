using System.Buffers.Binary;
using Emulator.Bus;

namespace Emulator.Pci;

/// <summary>Kinds of base address register (PCI Local Bus Specification 3.0, section 6.2.5.1).</summary>
public enum PciBarKind { Io, Memory32, Memory64 }

/// <summary>One base address register and the registers behind it.</summary>
public sealed class PciBar
{
    public required int Index { get; init; }
    public required PciBarKind Kind { get; init; }
    /// <summary>Size in bytes, a power of two (I/O: at least 4; memory: at least 16, mapped in whole pages).</summary>
    public required uint Size { get; init; }
    public bool Prefetchable { get; init; }
    /// <summary>The registers, addressed by offset within the BAR.</summary>
    public required IMmioDevice Target { get; init; }
    public required string Name { get; init; }
    /// <summary>Where the BAR is decoded now, or null when it is not.</summary>
    public uint? MappedAt { get; internal set; }
}

/// <summary>
/// A PCI function: 256 bytes of type-0 configuration space with per-bit write masks, BARs that map and unmap
/// their registers on the memory and I/O buses as the guest programs them (and as the command register
/// enables decoding), a capability list, and an INTx pin routed by the bus.
/// </summary>
public abstract class PciDevice
{
    public const int Command = 0x04, Status = 0x06, HeaderType = 0x0E, Bar0 = 0x10, SubsystemVendor = 0x2C,
        CapabilitiesPointer = 0x34, InterruptLine = 0x3C, InterruptPin = 0x3D;
    public const ushort CommandIo = 1, CommandMemory = 2, CommandBusMaster = 4, CommandIntxDisable = 0x400;

    protected readonly byte[] Config = new byte[256];
    private readonly byte[] writeMask = new byte[256];
    private readonly byte[] initial = new byte[256];
    private readonly PciBar?[] bars = new PciBar?[6];
    private int capabilityEnd = 0x40;

    public string Name { get; }
    public PciBus? Bus { get; internal set; }
    public int DeviceNumber { get; internal set; }
    public int Function { get; internal set; }
    public int Devfn => DeviceNumber << 3 | Function;

    /// <summary>The level this function drives on its INTx pin (before the command register's INTx disable).</summary>
    public bool IntxLevel { get; private set; }

    protected PciDevice(string name, ushort vendor, ushort device, byte revision, uint classCode,
        ushort subsystemVendor = 0, ushort subsystemId = 0, byte headerType = 0, byte interruptPin = 0)
    {
        Name = name;
        Set16(0x00, vendor);
        Set16(0x02, device);
        Config[0x08] = revision;
        Config[0x09] = (byte)classCode;
        Config[0x0A] = (byte)(classCode >> 8);
        Config[0x0B] = (byte)(classCode >> 16);
        Config[HeaderType] = headerType;
        Set16(SubsystemVendor, subsystemVendor);
        Set16(SubsystemVendor + 2, subsystemId);
        Config[InterruptPin] = interruptPin;
        // Command: I/O, memory, bus master, SERR, INTx disable are writable; status bits are read-only here.
        SetWritable(Command, 2, CommandIo | CommandMemory | CommandBusMaster | 0x0100 | CommandIntxDisable);
        SetWritable(0x0C, 1, 0xFF);            // cache line size
        SetWritable(0x0D, 1, 0xFF);            // latency timer
        SetWritable(InterruptLine, 1, 0xFF);
    }

    // ---- construction helpers for subclasses ---------------------------------------------------------------

    protected void Set16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Config.AsSpan(offset), value);
    protected void Set32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Config.AsSpan(offset), value);
    protected ushort Get16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(Config.AsSpan(offset));
    protected uint Get32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(Config.AsSpan(offset));

    /// <summary>Marks bits of a little-endian register of <paramref name="size"/> bytes guest-writable.</summary>
    protected void SetWritable(int offset, int size, uint mask)
    {
        for (int i = 0; i < size; i++) writeMask[offset + i] = (byte)(mask >> (8 * i));
    }

    protected PciBar AddBar(int index, PciBarKind kind, uint size, IMmioDevice target, string name, bool prefetchable = false)
    {
        if (size == 0 || (size & (size - 1)) != 0 || (kind == PciBarKind.Io ? size < 4 : size < 16))
            throw new ArgumentException($"{Name}: BAR {index} size {size} is not a valid power of two");
        if (kind == PciBarKind.Memory64 && index > 4) throw new ArgumentException($"{Name}: a 64-bit BAR cannot start at BAR 5");
        var bar = new PciBar { Index = index, Kind = kind, Size = size, Prefetchable = prefetchable, Target = target, Name = name };
        bars[index] = bar;
        int reg = Bar0 + 4 * index;
        uint flags = kind switch
        {
            PciBarKind.Io => 1u,
            PciBarKind.Memory32 => prefetchable ? 8u : 0u,
            _ => 4u | (prefetchable ? 8u : 0u),
        };
        Set32(reg, flags);
        SetWritable(reg, 4, ~(size - 1) & (kind == PciBarKind.Io ? 0xFFFF_FFFCu : 0xFFFF_FFF0u));
        if (kind == PciBarKind.Memory64) SetWritable(reg + 4, 4, 0xFFFF_FFFF);
        return bar;
    }

    /// <summary>Adds a capability of <paramref name="length"/> bytes after the previous one in configuration space
    /// and links it at the head of the list, as QEMU's pci_add_capability does; returns its offset.</summary>
    protected int AddCapability(byte id, int length)
    {
        int offset = capabilityEnd;
        if (offset + length > 256) throw new InvalidOperationException($"{Name}: configuration space full");
        capabilityEnd = (offset + length + 3) & ~3;
        Config[offset] = id;
        Config[offset + 1] = Config[CapabilitiesPointer];
        Config[CapabilitiesPointer] = (byte)offset;
        Config[Status] |= 0x10;                // status: capabilities list present
        return offset;
    }

    /// <summary>Records the power-on state of configuration space (done when the function joins a bus).</summary>
    internal void SealConfiguration() => Config.CopyTo(initial, 0);

    public PciBar? GetBar(int index) => bars[index];

    public IEnumerable<PciBar> Bars => bars.Where(b => b != null)!;

    public ushort CommandRegister => Get16(Command);

    public bool BusMasterEnabled => (Get16(Command) & CommandBusMaster) != 0;

    // ---- configuration access --------------------------------------------------------------------------

    public virtual uint ReadConfig(int offset, int size)
    {
        uint v = 0;
        for (int i = size - 1; i >= 0; i--) v = v << 8 | Config[(offset + i) & 0xFF];
        return v;
    }

    public virtual void WriteConfig(int offset, int size, uint value)
    {
        ushort oldCommand = Get16(Command);
        bool barTouched = false;
        for (int i = 0; i < size; i++)
        {
            int at = (offset + i) & 0xFF;
            byte mask = writeMask[at];
            if (mask == 0) continue;
            byte b = (byte)(value >> (8 * i));
            Config[at] = (byte)((Config[at] & ~mask) | (b & mask));
            if (at is >= Bar0 and < Bar0 + 24) barTouched = true;
        }
        ushort command = Get16(Command);
        if (barTouched || ((oldCommand ^ command) & (CommandIo | CommandMemory)) != 0) UpdateMappings();
        if (((oldCommand ^ command) & CommandIntxDisable) != 0) Bus?.IntxChanged(this);
        OnConfigWritten(offset, size, value, oldCommand);
    }

    /// <summary>Hook for device-specific registers (runs after the masked write is applied).</summary>
    protected virtual void OnConfigWritten(int offset, int size, uint value, ushort oldCommand) { }

    /// <summary>Current address programmed into a BAR (the 64-bit pair for Memory64).</summary>
    public ulong BarAddress(PciBar bar)
    {
        int reg = Bar0 + 4 * bar.Index;
        ulong low = Get32(reg) & (bar.Kind == PciBarKind.Io ? 0xFFFF_FFFCu : 0xFFFF_FFF0u);
        return bar.Kind == PciBarKind.Memory64 ? low | (ulong)Get32(reg + 4) << 32 : low;
    }

    internal void UpdateMappings()
    {
        if (Bus == null) return;
        ushort command = Get16(Command);
        foreach (var bar in bars)
        {
            if (bar == null) continue;
            bool enabled = (command & (bar.Kind == PciBarKind.Io ? CommandIo : CommandMemory)) != 0;
            ulong address = BarAddress(bar);
            uint? target = enabled ? Bus.Decodable(bar, address) : null;
            if (target == bar.MappedAt) continue;
            if (bar.MappedAt is { } old) Bus.Unmap(bar, old);
            bar.MappedAt = null;
            if (target is { } at && Bus.TryMap(bar, at)) bar.MappedAt = at;
        }
    }

    // ---- interrupts ------------------------------------------------------------------------------------

    /// <summary>Drives this function's INTx pin (level-triggered, shared; the bus routes it).</summary>
    public void SetIntx(bool level)
    {
        if (level == IntxLevel) return;
        IntxLevel = level;
        Bus?.IntxChanged(this);
    }

    /// <summary>The level the bus sees: INTx disable in the command register masks it (PCI 2.3).</summary>
    public bool EffectiveIntx => IntxLevel && (Get16(Command) & CommandIntxDisable) == 0 && Config[InterruptPin] != 0;

    public byte InterruptPinNumber => Config[InterruptPin];

    // ---- reset -------------------------------------------------------------------------------------------

    /// <summary>PCI RST#: configuration space back to its power-on values, BARs unmapped, INTx released.</summary>
    public virtual void Reset()
    {
        initial.CopyTo(Config, 0);
        UpdateMappings();
        SetIntx(false);
    }
}
