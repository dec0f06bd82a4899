using Emulator.Bus;
using Emulator.Machine;

namespace Emulator.Devices;

/// <summary>
/// Port 0x61, "system control port B" of the PC/AT (PIIX "NMI status and control"): bit 0 gates PIT channel 2,
/// bit 1 enables the speaker, bit 4 toggles with every DRAM refresh request (15.085 us), bit 5 reads PIT
/// channel 2's output. Linux calibrates the TSC by gating channel 2 here and polling bit 5.
/// </summary>
public sealed class SystemControlPortB : IPortDevice
{
    private const long RefreshPeriodNs = 15_085;
    private readonly Pit8254 pit;
    private readonly VirtualClock clock;
    private byte control;              // bits 0..3 as written

    public SystemControlPortB(Pit8254 pit, VirtualClock clock)
    {
        this.pit = pit;
        this.clock = clock;
    }

    public void Register(IoPortBus io) => io.Register(0x61, 1, this);

    public void Reset()
    {
        control = 0;
        pit.SetGate(2, false);
    }

    public uint In(ushort port, int size)
    {
        uint v = control;
        if ((clock.NowNs / RefreshPeriodNs & 1) != 0) v |= 0x10;
        if (pit.GetOutput(2)) v |= 0x20;
        return v;
    }

    public void Out(ushort port, int size, uint value)
    {
        control = (byte)(value & 0x0F);
        pit.SetGate(2, (value & 1) != 0);
    }
}
