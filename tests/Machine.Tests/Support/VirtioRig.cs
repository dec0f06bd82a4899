using Emulator.Bus;
using Emulator.Machine;
using Emulator.Pci;
using Emulator.Virtio;
using NUnit.Framework;

namespace Machine.Tests.Support;

/// <summary>
/// A PCI bus with the i440FX host bridge, the PIIX3 (PIRQC routed to IRQ 11) and one virtio-blk disk in slot 3
/// over a <see cref="TestBlockDevice"/>, plus a mini driver for it. No CPU: the test is the guest.
/// </summary>
public sealed class VirtioRig : IMachineControl, IDisposable
{
    public readonly MemoryBus Memory = new(32 << 20);
    public readonly IoPortBus Io = new();
    public readonly IrqRecorder Irqs = new();
    public readonly PciBus Bus;
    public readonly PciHost Host;
    public readonly PiixIsaBridge Isa;
    public readonly VirtualClock Clock;
    public readonly EventLoop Loop;
    public readonly TestBlockDevice Disk;
    public readonly VirtioBlk Blk;
    public readonly VirtioPciTransport Transport;
    public readonly MiniVirtioDriver Driver;
    public readonly List<string> Warnings = new();
    public readonly List<string> Resets = new();
    public readonly List<BlockRequestTrace> Traces = new();
    /// <summary>Deterministic mode: the instruction counter behind the clock (1 ns each).</summary>
    public long Instructions;

    public VirtioRig(long diskSize = 1 << 20, VirtioBlkOptions? options = null, ClockMode mode = ClockMode.Host,
        int slot = 3, TestBlockDevice? disk = null)
    {
        Clock = new VirtualClock(mode, 0);
        if (mode == ClockMode.Deterministic) Clock.AttachInstructionCounter(() => Instructions);
        Loop = new EventLoop(Clock);
        Bus = new PciBus(Memory, Io) { Warning = Warnings.Add };
        Host = new PciHost(Bus);
        Host.Register(Io);
        Isa = new PiixIsaBridge(Bus, Irqs, this);
        Isa.Register(Io);
        Isa.SetPirqRoute(2, 11);
        Disk = disk ?? new TestBlockDevice(diskSize);
        Blk = new VirtioBlk(Memory, Disk, Loop, options) { Warning = Warnings.Add };
        Blk.Engine.Trace = Traces.Add;
        Transport = new VirtioPciTransport("virtio-blk test", Blk, 0x010000);
        Bus.Add(Transport, slot);
        Driver = new MiniVirtioDriver(Memory, Io, slot);
    }

    public bool Irq11 => Irqs.Level[11];

    /// <summary>Runs loop work until <paramref name="condition"/> holds (fails after 10 s).</summary>
    public void Pump(Func<bool> condition, string what = "condition")
    {
        Assert.That(Loop.PumpUntil(condition, TimeSpan.FromSeconds(10)), Is.True, $"timed out waiting for {what}");
    }

    /// <summary>Deterministic mode: lets virtual time pass, firing timers in order.</summary>
    public void AdvanceTo(long ns)
    {
        while (Clock.NextDeadline <= ns)
        {
            Instructions = Math.Max(Instructions, Clock.NextDeadline);
            Clock.RunDueTimers();
        }
        Instructions = Math.Max(Instructions, ns);
        Clock.RunDueTimers();
    }

    public void RequestReset(string reason) => Resets.Add(reason);
    public void RequestExit(int exitCode, string reason) { }

    public void Dispose() => Loop.Dispose();
}
