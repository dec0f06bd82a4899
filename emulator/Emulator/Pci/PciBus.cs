using Emulator.Bus;

namespace Emulator.Pci;

/// <summary>Routes a function's INTx level to interrupt controller inputs (the PIIX PIRQ router on a PC).</summary>
public interface IPciIrqRouter
{
    void IntxChanged(PciDevice device);
}

/// <summary>
/// PCI bus 0: functions by device/function number, configuration access by number, and the decoding of BARs
/// onto the memory and I/O buses. A BAR is decoded only at addresses that do not collide with RAM, the
/// firmware, or another region; the guest sees a BAR it placed badly simply not respond.
/// </summary>
public sealed class PciBus
{
    private readonly PciDevice?[] functions = new PciDevice?[256];
    private readonly List<PciDevice> devices = new();

    public MemoryBus Memory { get; }
    public IoPortBus Io { get; }
    public IPciIrqRouter? IrqRouter { get; set; }

    /// <summary>Called when a guest programs a BAR that cannot be decoded (diagnostics).</summary>
    public Action<string>? Warning { get; set; }

    public PciBus(MemoryBus memory, IoPortBus io)
    {
        Memory = memory;
        Io = io;
    }

    public void Add(PciDevice device, int deviceNumber, int function = 0)
    {
        if ((uint)deviceNumber > 31 || (uint)function > 7)
            throw new ArgumentOutOfRangeException(nameof(deviceNumber), $"PCI address {deviceNumber:x2}.{function} is out of range");
        int devfn = deviceNumber << 3 | function;
        if (functions[devfn] is { } other)
            throw new InvalidOperationException($"PCI slot {deviceNumber:x2}.{function} is already taken by {other.Name}");
        device.Bus = this;
        device.DeviceNumber = deviceNumber;
        device.Function = function;
        device.SealConfiguration();
        functions[devfn] = device;
        devices.Add(device);
    }

    public PciDevice? Get(int deviceNumber, int function = 0) => functions[(deviceNumber << 3 | function) & 0xFF];

    /// <summary>Every function, in the order added (a list, so interrupt routing can walk it without allocating).</summary>
    public IReadOnlyList<PciDevice> Devices => devices;

    /// <summary>Lowest free device number at or above <paramref name="first"/> (function 0 free).</summary>
    public int FreeSlot(int first)
    {
        for (int d = first; d < 32; d++)
            if (functions[d << 3] == null) return d;
        throw new InvalidOperationException("no free PCI slot left on bus 0");
    }

    public uint ReadConfig(int devfn, int offset, int size)
    {
        var f = functions[devfn & 0xFF];
        if (f == null) return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
        return f.ReadConfig(offset, size);
    }

    public void WriteConfig(int devfn, int offset, int size, uint value) =>
        functions[devfn & 0xFF]?.WriteConfig(offset, size, value);

    public void Reset()
    {
        foreach (var f in devices) f.Reset();
    }

    // ---- BAR decoding ------------------------------------------------------------------------------------

    /// <summary>The 32-bit address the BAR would decode at, or null if it cannot be decoded there.</summary>
    internal uint? Decodable(PciBar bar, ulong address)
    {
        if (address == 0) return null;
        if (bar.Kind == PciBarKind.Io)
            return address + bar.Size <= 0x10000 ? (uint)address : null;
        ulong size = Math.Max(bar.Size, MemoryBus.PageSize);
        if (address + size > 1UL << 32 || address < Memory.RamSize) return null;
        if ((address & MemoryBus.PageMask) != 0) return null;        // sub-page BARs are placed page-aligned
        return (uint)address;
    }

    internal bool TryMap(PciBar bar, uint address)
    {
        try
        {
            if (bar.Kind == PciBarKind.Io)
                Io.Register((ushort)address, (int)bar.Size, new IoWindow(bar.Target, (ushort)address));
            else
                Memory.MapMmio(address, Math.Max(bar.Size, MemoryBus.PageSize), bar.Target, bar.Name);
            return true;
        }
        catch (InvalidOperationException e)
        {
            Warning?.Invoke($"{bar.Name}: not decoded at 0x{address:x}: {e.Message}");
            return false;
        }
    }

    internal void Unmap(PciBar bar, uint address)
    {
        if (bar.Kind == PciBarKind.Io)
        {
            if (Io.DeviceAt((ushort)address) is { } dev) Io.Unregister((ushort)address, (int)bar.Size, dev);
        }
        else Memory.Unmap(address, Math.Max(bar.Size, MemoryBus.PageSize));
    }

    internal void IntxChanged(PciDevice device) => IrqRouter?.IntxChanged(device);

    /// <summary>Adapts an I/O BAR's offset-addressed registers to absolute port numbers.</summary>
    private sealed class IoWindow(IMmioDevice target, ushort basePort) : IPortDevice
    {
        public uint In(ushort port, int size) => target.Read((uint)(port - basePort), size);
        public void Out(ushort port, int size, uint value) => target.Write((uint)(port - basePort), size, value);
    }
}
