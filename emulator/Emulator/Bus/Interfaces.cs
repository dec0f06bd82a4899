namespace Emulator.Bus;

/// <summary>A device on the I/O port bus (IN/OUT). Size is 1, 2 or 4 bytes.</summary>
public interface IPortDevice
{
    uint In(ushort port, int size);
    void Out(ushort port, int size, uint value);
}

/// <summary>A device mapped into the physical address space. Offset is relative to the mapped region's base;
/// size is 1, 2 or 4 bytes (the bus splits wider or page-crossing accesses).</summary>
public interface IMmioDevice
{
    uint Read(uint offset, int size);
    void Write(uint offset, int size, uint value);
}

/// <summary>The interrupt controller behind the CPU's INTR pin: the INTA cycle returns the vector
/// (8259A datasheet, "Interrupt sequence").</summary>
public interface IInterruptController
{
    byte Acknowledge();
}

/// <summary>
/// The CPU's INTR input. The interrupt controller sets <see cref="Asserted"/>; the CPU samples it at
/// instruction boundaries when IF is set and then runs the INTA cycle through <see cref="Controller"/>.
/// A plain field, because only the emulator thread touches device and CPU state.
/// </summary>
public sealed class InterruptPin
{
    public bool Asserted;
    public IInterruptController? Controller;
}

/// <summary>Something that has numbered interrupt request inputs (the 8259A pair, an I/O APIC).</summary>
public interface IIrqSink
{
    void SetIrq(int irq, bool level);
}

/// <summary>One wire from a device to an interrupt controller input.</summary>
public sealed class IrqLine
{
    private readonly IIrqSink sink;
    public int Number { get; }
    public bool Level { get; private set; }

    public IrqLine(IIrqSink sink, int number)
    {
        this.sink = sink;
        Number = number;
    }

    public void Set(bool level)
    {
        Level = level;
        sink.SetIrq(Number, level);
    }

    public void Raise() => Set(true);
    public void Lower() => Set(false);

    /// <summary>A rising then falling edge, as an edge-triggered ISA device gives.</summary>
    public void Pulse()
    {
        Set(true);
        Set(false);
    }
}
