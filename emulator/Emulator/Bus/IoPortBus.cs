namespace Emulator.Bus;

/// <summary>The 64 KiB x86 I/O port space. Unclaimed ports read as all ones and ignore writes, as on a PC.</summary>
public sealed class IoPortBus
{
    private readonly IPortDevice?[] ports = new IPortDevice?[65536];

    /// <summary>Called for accesses to unclaimed ports (tracing); may be null.</summary>
    public Action<ushort, int, bool, uint>? Unclaimed;

    public void Register(ushort first, int count, IPortDevice device)
    {
        if (count <= 0 || first + count > 65536)
            throw new ArgumentOutOfRangeException(nameof(count), $"port range 0x{first:x}+{count} is outside the I/O space");
        for (int p = first; p < first + count; p++)
        {
            if (ports[p] is { } other && !ReferenceEquals(other, device))
                throw new InvalidOperationException($"I/O port 0x{p:x4} is already claimed by {other.GetType().Name}");
        }
        for (int p = first; p < first + count; p++)
            ports[p] = device;
    }

    /// <summary>Releases ports, e.g. when a PCI I/O BAR moves.</summary>
    public void Unregister(ushort first, int count, IPortDevice device)
    {
        for (int p = first; p < first + count && p < 65536; p++)
            if (ReferenceEquals(ports[p], device))
                ports[p] = null;
    }

    public IPortDevice? DeviceAt(ushort port) => ports[port];

    public uint In(ushort port, int size)
    {
        var dev = ports[port];
        if (dev != null)
            return dev.In(port, size);
        Unclaimed?.Invoke(port, size, false, 0);
        return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
    }

    public void Out(ushort port, int size, uint value)
    {
        var dev = ports[port];
        if (dev != null)
            dev.Out(port, size, value);
        else
            Unclaimed?.Invoke(port, size, true, value);
    }
}
