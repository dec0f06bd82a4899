namespace Emulator.Pci;

/// <summary>
/// What a PC BIOS does to PCI before an operating system runs, for the direct kernel boot that has no
/// firmware: route PIRQA-D to IRQs 10, 10, 11, 11 and make those IRQs level-triggered (SeaBIOS's choice on
/// QEMU's board), size and place every BAR (I/O upwards from 0xC000, memory downwards from 0xFEC00000, each
/// aligned to its size), enable decoding, and fill in the Interrupt Line registers. It works only through
/// configuration space, as firmware does.
/// </summary>
public static class PciFirmware
{
    public const uint IoBase = 0xC000, IoLimit = 0x10000;
    public const uint MemoryTop = 0xFEC0_0000;
    public static readonly int[] PirqIrqs = { 10, 10, 11, 11 };

    private sealed record BarRequest(PciDevice Device, int Index, bool Io, bool Is64, uint Size);

    /// <summary>Configures bus 0. <paramref name="setElcr"/> receives the ELCR bit mask of the PCI IRQs.</summary>
    public static void Configure(PciBus bus, PiixIsaBridge isa, Action<ushort> setElcr, uint memoryBottom)
    {
        ushort elcr = 0;
        for (int p = 0; p < 4; p++)
        {
            isa.SetPirqRoute(p, PirqIrqs[p]);
            elcr |= (ushort)(1 << PirqIrqs[p]);
        }
        setElcr(elcr);

        var requests = new List<BarRequest>();
        foreach (var dev in bus.Devices)
        {
            for (int i = 0; i < 6; i++)
            {
                int reg = PciDevice.Bar0 + 4 * i;
                uint original = dev.ReadConfig(reg, 4);
                dev.WriteConfig(reg, 4, 0xFFFF_FFFF);
                uint probe = dev.ReadConfig(reg, 4);
                dev.WriteConfig(reg, 4, original);
                if (probe == 0) continue;
                bool io = (probe & 1) != 0;
                bool is64 = !io && (probe & 6) == 4;
                uint mask = io ? probe & 0xFFFF_FFFC : probe & 0xFFFF_FFF0;
                uint size = ~mask + 1;
                if (io) size &= 0xFFFF;
                requests.Add(new BarRequest(dev, i, io, is64, size));
                if (is64) i++;
            }
        }

        uint nextIo = IoBase;
        foreach (var r in requests.Where(r => r.Io).OrderByDescending(r => r.Size))
        {
            uint at = (nextIo + r.Size - 1) & ~(r.Size - 1);
            if (at + r.Size > IoLimit) throw new InvalidOperationException($"{r.Device.Name}: out of PCI I/O space");
            r.Device.WriteConfig(PciDevice.Bar0 + 4 * r.Index, 4, at);
            nextIo = at + r.Size;
        }
        uint top = MemoryTop;
        foreach (var r in requests.Where(r => !r.Io).OrderByDescending(r => r.Size))
        {
            uint size = Math.Max(r.Size, 4096u);
            uint at = (top - size) & ~(size - 1);
            if (at < memoryBottom) throw new InvalidOperationException($"{r.Device.Name}: out of PCI memory space");
            r.Device.WriteConfig(PciDevice.Bar0 + 4 * r.Index, 4, at);
            if (r.Is64) r.Device.WriteConfig(PciDevice.Bar0 + 4 * r.Index + 4, 4, 0);
            top = at;
        }

        foreach (var dev in bus.Devices)
        {
            var mine = requests.Where(r => r.Device == dev).ToList();
            ushort command = (ushort)dev.ReadConfig(PciDevice.Command, 2);
            if (mine.Any(r => r.Io)) command |= PciDevice.CommandIo;
            if (mine.Any(r => !r.Io)) command |= PciDevice.CommandMemory;
            dev.WriteConfig(PciDevice.Command, 2, command);
            int pin = (int)dev.ReadConfig(PciDevice.InterruptPin, 1);
            if (pin is >= 1 and <= 4)
            {
                int irq = isa.IrqOfPirq(PiixIsaBridge.PirqOf(dev.DeviceNumber, pin));
                dev.WriteConfig(PciDevice.InterruptLine, 1, irq < 0 ? 0xFFu : (uint)irq);
            }
        }
    }
}
