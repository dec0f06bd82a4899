using Emulator.Bus;
using Emulator.Machine;

namespace Emulator.Devices;

/// <summary>Port 0x92, "system control port A" (PS/2, PIIX): bit 1 = fast A20 gate, bit 0 = fast reset on a
/// 0 to 1 transition.</summary>
public sealed class SystemControlPortA(A20Gate a20, IMachineControl machine) : IPortDevice
{
    private byte value;

    public void Register(IoPortBus io) => io.Register(0x92, 1, this);

    public void Reset() => value = 0;

    public uint In(ushort port, int size) => (uint)(value & ~0x02) | (a20.Port92 ? 0x02u : 0u);

    public void Out(ushort port, int size, uint v)
    {
        byte old = value;
        value = (byte)(v & 0x03);
        a20.Port92 = (v & 0x02) != 0;
        if ((v & 1) != 0 && (old & 1) == 0) machine.RequestReset("port 0x92 fast reset");
    }
}
