using Emulator.Bus;

namespace Emulator.Devices;

/// <summary>The debug console port (QEMU's isa-debugcon, 0x402 by default; SeaBIOS prints its log there). Bytes
/// written go to the backend; a read returns 0xE9, the value QEMU's device answers so firmware can detect it.</summary>
public sealed class DebugConsole(CharBackend backend, ushort port = 0x402) : IPortDevice
{
    public void Register(IoPortBus io) => io.Register(port, 1, this);

    public uint In(ushort p, int size) => 0xE9;

    public void Out(ushort p, int size, uint value) => backend.Write((byte)value);
}
