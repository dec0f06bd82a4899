using Emulator.Bus;
using Emulator.Machine;

namespace Emulator.Devices;

/// <summary>QEMU's isa-debug-exit device: a write of v ends the run with exit status (v &lt;&lt; 1) | 1, so a
/// guest (or a test kernel) can report a result as the process's exit code. Default iobase 0x501, size 2.</summary>
public sealed class IsaDebugExit(IMachineControl machine, ushort basePort = 0x501, int size = 2) : IPortDevice
{
    public ushort BasePort => basePort;
    public int Size => size;

    public void Register(IoPortBus io) => io.Register(basePort, size, this);

    public uint In(ushort port, int accessSize) => accessSize switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };

    public void Out(ushort port, int accessSize, uint value)
    {
        int code = (int)((value << 1) | 1) & 0xFF;
        machine.RequestExit(code, $"isa-debug-exit: guest wrote 0x{value:x}");
    }
}
