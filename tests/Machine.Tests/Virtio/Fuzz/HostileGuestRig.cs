using Emulator.Bus;
using Emulator.Machine;
using Emulator.Pci;
using Emulator.Virtio;
using Machine.Tests.Support;
using Qed;

namespace Machine.Tests.Virtio.Fuzz;

/// <summary>
/// A PCI bus with the i440FX, the PIIX3 and one virtio-blk disk in slot 3 over any block device (the QED
/// engine here), and the spec-written mini driver, whose rings the fuzzer then abuses. No CPU: the fuzzer
/// is the guest.
/// </summary>
public sealed class HostileGuestRig : IMachineControl, IDisposable
{
    public const uint RamSize = 32 << 20;
    public readonly MemoryBus Memory = new(RamSize);
    public readonly IoPortBus Io = new();
    public readonly IrqRecorder Irqs = new();
    public readonly PciBus Bus;
    public readonly VirtualClock Clock = new(ClockMode.Host, 0);
    public readonly EventLoop Loop;
    public readonly VirtioBlk Blk;
    public readonly VirtioPciTransport Transport;
    public readonly MiniVirtioDriver Driver;
    public readonly List<string> Warnings = new();

    public HostileGuestRig(IBlockDevice disk, VirtioBlkOptions options)
    {
        Loop = new EventLoop(Clock);
        Bus = new PciBus(Memory, Io) { Warning = w => { lock (Warnings) Warnings.Add(w); } };
        new PciHost(Bus).Register(Io);
        var isa = new PiixIsaBridge(Bus, Irqs, this);
        isa.Register(Io);
        isa.SetPirqRoute(2, 11);
        Blk = new VirtioBlk(Memory, disk, Loop, options) { Warning = w => { lock (Warnings) Warnings.Add(w); } };
        Transport = new VirtioPciTransport("virtio-blk fuzz", Blk, 0x010000);
        Bus.Add(Transport, 3);
        // The driver's rings live in 1-5 MiB; the fuzzer's buffers above that.
        Driver = new MiniVirtioDriver(Memory, Io, 3, heapStart: 0x100000, heapSize: 0x400000);
        Driver.MapBars();
    }

    public void RequestReset(string reason) { }
    public void RequestExit(int exitCode, string reason) { }
    public void Dispose() => Loop.Dispose();
}
