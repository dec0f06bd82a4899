using System.Diagnostics;
using Emulator.Boot;
using Emulator.Bus;
using Emulator.Cpu;
using Emulator.Devices;
using Emulator.Pci;
using Emulator.Virtio;
using Qed;

namespace Emulator.Machine;

/// <summary>
/// The board: QEMU's i440FX "pc" as far as a Linux guest and SeaBIOS need it. RAM from 0, the VGA window and the
/// option-ROM/BIOS area as holes that the PAM registers can turn into shadow RAM, a firmware ROM at the top of
/// 4 GiB with its last 128 KiB aliased below 1 MiB, the ISA devices at their usual ports, PCI 00.0 host bridge,
/// 01.0 PIIX3 ISA bridge and the virtio disks from 03.0 on. <see cref="Run"/> is the event loop: the CPU runs in
/// slices that end at the next timer deadline; timers, I/O completions and host input are applied between
/// slices on this one thread; a halted CPU sleeps until something happens.
/// </summary>
public sealed class Pc : IMachineControl, IAsyncDisposable
{
    public delegate ICpu CpuFactory(MemoryBus memory, IoPortBus io, InterruptPin pin);
    public delegate IBlockDevice DriveOpener(DriveOptions drive);

    public const int FirstDiskSlot = 3;
    public const uint IsaBiosSize = 128 << 10;
    private static readonly (ushort Port, int Irq)[] ComPorts = { (0x3F8, 4), (0x2F8, 3), (0x3E8, 4), (0x2E8, 3) };
    private const long MaxSliceNs = 1_000_000;
    private const long MaxDeterministicSlice = 4_000_000;

    private readonly TextWriter diagnostics;
    private readonly LinuxKernelImage? kernel;
    private readonly byte[]? initrd;
    private readonly byte[]? firmware;
    private readonly List<CharBackend> backends = new();
    private MachineExit? exit;
    private string? resetReason;
    private long lastFlush;

    public MachineOptions Options { get; }
    public VirtualClock Clock { get; }
    /// <summary>The virtual clock as a <see cref="TimeProvider"/>, for the disk images' own timers.</summary>
    public VirtualTimeProvider StorageTime { get; }
    public EventLoop Loop { get; }
    public MemoryBus Memory { get; }
    public IoPortBus Io { get; }
    public InterruptPin Pin { get; } = new();
    public ICpu Cpu { get; }
    public Pic8259 Pic { get; }
    public Pit8254 Pit { get; }
    public SystemControlPortB PortB { get; }
    public Mc146818Rtc Rtc { get; }
    public A20Gate A20 { get; }
    public I8042 Keyboard { get; }
    public SystemControlPortA Port92 { get; }
    public FwCfg FwCfg { get; }
    public IReadOnlyList<Uart16550> SerialPorts { get; }
    public DebugConsole? DebugConsole { get; private set; }
    public IsaDebugExit? DebugExit { get; private set; }
    public PciBus PciBus { get; }
    public PciHost PciHost { get; }
    public PiixIsaBridge IsaBridge { get; }
    public IReadOnlyList<VirtioDisk> Disks { get; }
    public LinuxBootLayout? BootLayout { get; private set; }
    public int ResetCount { get; private set; }

    /// <param name="options">The machine, as parsed from the command line.</param>
    /// <param name="cpuFactory">Builds the CPU on the board's buses.</param>
    /// <param name="openDrive">Opens a -drive's image (the QED engine or a raw image).</param>
    /// <param name="backendFactory">Creates serial/debug-console backends (default: from the options).</param>
    /// <param name="diagnostics">Where one-line warnings go (default: stderr).</param>
    public Pc(MachineOptions options, CpuFactory cpuFactory, DriveOpener? openDrive = null,
        Func<SerialOptions, CharBackend>? backendFactory = null, TextWriter? diagnostics = null)
    {
        Options = options;
        this.diagnostics = diagnostics ?? Console.Error;
        backendFactory ??= o => CharBackends.Create(o, this);

        // Files first, so a bad path fails before anything is built.
        if (options.Kernel != null) kernel = LinuxKernelImage.Load(options.Kernel);
        if (options.Initrd != null) initrd = ReadFile(options.Initrd, "initrd");
        if (options.Bios != null)
        {
            firmware = ReadFile(options.Bios, "firmware");
            if (firmware.Length == 0 || firmware.Length % 0x10000 != 0 || firmware.Length > 16 << 20)
                throw new BootException($"firmware '{options.Bios}' must be a multiple of 64 KiB and at most 16 MiB (it is {firmware.Length} bytes)");
        }
        if (kernel == null && firmware == null) throw new BootException("nothing to boot: no -kernel and no -bios");

        Clock = new VirtualClock(options.ClockMode, options.InstructionShift);
        Loop = new EventLoop(Clock);
        StorageTime = new VirtualTimeProvider(Loop);
        Memory = new MemoryBus(options.MemoryBytes);
        Io = new IoPortBus();
        MapLowMemory();

        Cpu = cpuFactory(Memory, Io, Pin);
        Cpu.TimeStampCounter = () => (ulong)Clock.NowNs;   // a 1 GHz TSC on the virtual clock
        Clock.AttachInstructionCounter(() => Cpu.InstructionCount);

        Pic = new Pic8259(Pin);
        Pic.Register(Io);
        Pit = new Pit8254(Clock, new IrqLine(Pic, 0));
        Pit.Register(Io);
        PortB = new SystemControlPortB(Pit, Clock);
        PortB.Register(Io);
        Rtc = new Mc146818Rtc(Clock, new IrqLine(Pic, 8), options.RtcStart);
        Rtc.Register(Io);
        A20 = new A20Gate(Memory);
        Keyboard = new I8042(new IrqLine(Pic, 1), new IrqLine(Pic, 12), A20, this);
        Keyboard.Register(Io);
        Port92 = new SystemControlPortA(A20, this);
        Port92.Register(Io);
        FwCfg = new FwCfg();
        FwCfg.Register(Io);
        SetUpFwCfg();

        PciBus = new PciBus(Memory, Io) { Warning = Warn };
        PciHost = new PciHost(PciBus);
        PciHost.Register(Io);
        IsaBridge = new PiixIsaBridge(PciBus, Pic, this);
        IsaBridge.Register(Io);

        try
        {
            BuildPeripherals(options, openDrive, backendFactory, out var uarts, out var disks);
            SerialPorts = uarts;
            Disks = disks;
        }
        catch
        {
            foreach (var b in backends) b.Dispose();
            throw;
        }
        SetUpCmos();
    }

    private void BuildPeripherals(MachineOptions options, DriveOpener? openDrive,
        Func<SerialOptions, CharBackend> backendFactory, out List<Uart16550> uarts, out List<VirtioDisk> disks)
    {
        var serialOptions = options.Serials.Count > 0 ? options.Serials : new[] { SerialOptions.Stdio };
        uarts = new List<Uart16550>();
        for (int i = 0; i < serialOptions.Count; i++)
        {
            if (serialOptions[i].Absent) continue;
            var backend = AddBackend(backendFactory(serialOptions[i]));
            var uart = new Uart16550(ComPorts[i].Port, Clock, new IrqLine(Pic, ComPorts[i].Irq), backend);
            uart.Register(Io);
            backend.Attach(Loop, uart);
            uarts.Add(uart);
        }
        if (options.DebugCon is { Absent: false } dc)
        {
            DebugConsole = new DebugConsole(AddBackend(backendFactory(dc)));
            DebugConsole.Register(Io);
        }
        if (options.DebugExit is { } de)
        {
            DebugExit = new IsaDebugExit(this, de.Port, de.Size);
            DebugExit.Register(Io);
        }

        disks = new List<VirtioDisk>();
        try
        {
            for (int i = 0; i < options.Drives.Count; i++)
            {
                var drive = options.Drives[i];
                if (openDrive == null) throw new BootException("this build cannot open disk images (no drive opener)");
                string name = "vd" + (char)('a' + i);
                var backend = openDrive(drive with { TimeProvider = StorageTime, SynchronousIo = Clock.Mode == ClockMode.Deterministic });
                var blk = new VirtioBlk(Memory, backend, Loop, drive.ToVirtioOptions()) { Warning = m => Warn($"{name}: {m}") };
                var transport = new VirtioPciTransport($"virtio-blk {name}", blk, classCode: 0x010000);
                PciBus.Add(transport, PciBus.FreeSlot(FirstDiskSlot + i));
                disks.Add(new VirtioDisk(name, drive, backend, blk, transport));
            }
        }
        catch
        {
            foreach (var d in disks) d.Backend.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    private static byte[] ReadFile(string path, string what)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BootException($"could not read {what} '{path}': {e.Message}");
        }
    }

    private CharBackend AddBackend(CharBackend backend)
    {
        backends.Add(backend);
        return backend;
    }

    private void Warn(string message)
    {
        lock (diagnostics) diagnostics.WriteLine($"emu: warning: {message}");
    }

    /// <summary>0xA0000-0xFFFFF: the VGA window and the ROM area are not RAM until the PAM registers say so;
    /// the firmware ROM sits below 4 GiB and its last 128 KiB appear at 0xE0000.</summary>
    private void MapLowMemory()
    {
        Memory.MapHole(0xA0000, 0x20000);
        if (firmware != null)
        {
            uint size = (uint)firmware.Length;
            Memory.MapRom((uint)((1UL << 32) - size), firmware, 0, size, "firmware");
            uint alias = Math.Min(size, IsaBiosSize);
            Memory.MapHole(0xC0000, 0x100000 - alias - 0xC0000);
            Memory.MapRom(0x100000 - alias, firmware, firmware.Length - (int)alias, alias, "isa-bios");
        }
        else
        {
            Memory.MapHole(0xC0000, 0x40000);
        }
    }

    /// <summary>CMOS bytes a PC BIOS (and SeaBIOS on QEMU) reads: memory sizes, equipment, boot order, checksum.</summary>
    private void SetUpCmos()
    {
        uint ram = Options.MemoryBytes;
        Rtc[0x14] = 0x06;                                          // equipment: FPU, PS/2 mouse port
        Rtc[0x15] = 0x80; Rtc[0x16] = 0x02;                        // 640 KiB base memory
        uint extKb = Math.Min((ram - 0x100000) >> 10, 0xFFFF);
        Rtc[0x17] = (byte)extKb; Rtc[0x18] = (byte)(extKb >> 8);
        Rtc[0x30] = (byte)extKb; Rtc[0x31] = (byte)(extKb >> 8);
        uint above16 = ram > 16 << 20 ? Math.Min((ram - (16u << 20)) >> 16, 0xFFFF) : 0;
        Rtc[0x34] = (byte)above16; Rtc[0x35] = (byte)(above16 >> 8);
        Rtc[0x3D] = 0x02;                                          // boot from the first hard disk
        Rtc[0x5F] = 0;                                             // one CPU
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += Rtc[i];
        Rtc[0x2E] = (byte)(sum >> 8); Rtc[0x2F] = (byte)sum;
    }

    /// <summary>What QEMU's pc board tells SeaBIOS through fw_cfg: RAM size, one CPU, and "etc/e820" with the
    /// RAM below 4 GiB (the firmware adds its own holes).</summary>
    private void SetUpFwCfg()
    {
        FwCfg.SetUInt64(FwCfg.RamSize, Options.MemoryBytes);
        FwCfg.SetUInt16(FwCfg.NbCpus, 1);
        FwCfg.SetUInt16(FwCfg.MaxCpus, 1);
        var e820 = new E820Map();
        e820.Add(0, Options.MemoryBytes, E820Type.Ram);
        var table = new byte[20 * e820.Entries.Count];
        e820.WriteTo(table);
        FwCfg.AddFile("etc/e820", table);
    }

    // ---- machine control ----------------------------------------------------------------------------------

    public void RequestReset(string reason)
    {
        if (!Loop.IsOnLoopThread)
        {
            Loop.Post(() => RequestReset(reason));
            return;
        }
        resetReason ??= reason;
        Cpu.RequestStop();
    }

    public void RequestExit(int exitCode, string reason)
    {
        if (!Loop.IsOnLoopThread)
        {
            Loop.Post(() => RequestExit(exitCode, reason));
            return;
        }
        exit ??= new MachineExit(exitCode, reason);
        Cpu.RequestStop();
    }

    public MachineExit? Exit => exit;

    /// <summary>Guest instructions retired since the process started, across resets (the CPU's own count restarts).</summary>
    public long InstructionsRetired => retiredBeforeReset + Cpu.InstructionCount;
    private long retiredBeforeReset;

    // ---- power-on and reset -------------------------------------------------------------------------------

    private void ResetHardware()
    {
        PciBus.Reset();                  // PAM back to "not RAM", BARs unmapped, virtio devices reset
        foreach (var d in Disks)
            if (!d.Device.Engine.Drain(TimeSpan.FromSeconds(60)))
                Warn($"{d.Name}: disk requests still in flight after a reset");
        Pic.Reset();
        Pit.Reset();
        PortB.Reset();
        Rtc.Reset();
        Keyboard.Reset();
        Port92.Reset();
        FwCfg.Reset();
        A20.Reset();
        foreach (var u in SerialPorts) u.Reset();
        retiredBeforeReset += Cpu.InstructionCount;
        Clock.AcrossCounterReset(Cpu.Reset);
    }

    /// <summary>What firmware would do before the OS, for the direct kernel boot; nothing for a firmware boot
    /// (the CPU starts at the reset vector in the ROM).</summary>
    private void Boot()
    {
        if (kernel == null) return;
        PciHost.SetAllPam(0x33);
        PciFirmware.Configure(PciBus, IsaBridge, elcr => Pic.Out(0x4D0, 2, elcr), Memory.RamSize);
        uint firmwareSize = firmware != null ? (uint)firmware.Length : 0;
        BootLayout = LinuxBoot.Load(Memory, Cpu, kernel, initrd, Options.Append, E820Map.ForPc(Memory.RamSize, firmwareSize));
    }

    /// <summary>Power on: resets everything and prepares the boot. <see cref="Run"/> calls it.</summary>
    public void PowerOn()
    {
        ResetHardware();
        Boot();
    }

    private void SystemReset()
    {
        ResetCount++;
        ResetHardware();
        Boot();
    }

    // ---- the event loop -----------------------------------------------------------------------------------

    /// <summary>Runs the machine on the calling thread until the guest powers off, resets with -no-reboot,
    /// writes the debug-exit port, or the user quits.</summary>
    public MachineExit Run()
    {
        Loop.BindToCurrentThread();
        foreach (var b in backends) b.Start();
        PowerOn();
        while (exit == null)
        {
            Loop.RunPending();
            if (exit != null) break;
            if (resetReason is { } why)
            {
                resetReason = null;
                if (Options.NoReboot)
                {
                    exit = new MachineExit(0, $"guest reset ({why}) with -no-reboot");
                    break;
                }
                SystemReset();
                continue;
            }
            FlushOutputIfDue();
            var result = RunSlice();
            switch (result)
            {
                case CpuExit.Halted:
                    if ((Cpu.Eflags & 0x200) == 0)
                    {
                        exit ??= new MachineExit(0, "guest halted with interrupts disabled (power off)");
                        break;
                    }
                    Idle();
                    break;
                case CpuExit.Shutdown:
                    RequestReset("triple fault");
                    break;
            }
        }
        Shutdown();
        return exit!;
    }

    /// <summary>Runs the CPU up to the next timer deadline (at most 1 ms of guest time in host mode). In host mode
    /// the clock paces guest time by the instructions retired (<see cref="VirtualClock"/>); when guest time has
    /// run ahead of the host, the CPU waits instead (reported as Halted, and <see cref="Idle"/> waits).</summary>
    private CpuExit RunSlice()
    {
        long deadline = Clock.NextDeadline;
        if (Clock.Mode == ClockMode.Deterministic)
        {
            long n = deadline == long.MaxValue ? MaxDeterministicSlice : Math.Min(Clock.InstructionsUntil(deadline), MaxDeterministicSlice);
            return Cpu.Run(n);
        }
        long budget = Clock.BeginSlice(deadline, MaxSliceNs);
        if (budget == 0)
        {
            Loop.WaitForWork(Math.Max(0, -Clock.LagNs - VirtualClock.MaxLeadNs / 2));
            return CpuExit.Stopped;
        }
        long before = Cpu.InstructionCount;
        long start = Stopwatch.GetTimestamp();
        var result = Cpu.Run(budget);
        Clock.EndSlice(Cpu.InstructionCount - before, (long)((Stopwatch.GetTimestamp() - start) * (1e9 / Stopwatch.Frequency)));
        return result;
    }

    /// <summary>HLT with interrupts enabled: time passes without instructions until the next timer or posted work.
    /// Host mode first lets guest time catch up with the host (up to the next timer, which then fires on time),
    /// then sleeps until the host clock reaches the timer.</summary>
    private void Idle()
    {
        FlushOutput();
        long deadline = Clock.NextDeadline;
        if (Loop.HasPostedWork) return;
        if (Clock.Mode == ClockMode.Deterministic)
        {
            if (deadline != long.MaxValue) Clock.AdvanceTo(deadline);
            else Loop.WaitForWork(-1);
            return;
        }
        Clock.AdvanceTo(deadline);
        if (Clock.NowNs >= deadline) return;
        if (deadline == long.MaxValue) Loop.WaitForWork(-1);
        else Loop.WaitForWork(Math.Max(0, deadline - Clock.HostNowNs));   // never negative: that waits for ever
        Clock.AdvanceTo(deadline);
    }

    private void FlushOutputIfDue()
    {
        long now = Environment.TickCount64;
        if (now - lastFlush >= 20) FlushOutput();
    }

    private void FlushOutput()
    {
        lastFlush = Environment.TickCount64;
        foreach (var b in backends) b.Flush();
    }

    private void Shutdown()
    {
        foreach (var d in Disks)
            if (!d.Device.Engine.Drain(TimeSpan.FromSeconds(60)))
                Warn($"{d.Name}: disk requests still in flight at exit");
        FlushOutput();
    }

    /// <summary>Closes the images (flushing them) and the serial backends.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var d in Disks)
        {
            try { await d.Backend.DisposeAsync().ConfigureAwait(false); }
            catch (ImageException e) { Warn($"{d.Name}: {e.Message}"); }
        }
        foreach (var b in backends) b.Dispose();
        Loop.Dispose();
    }
}
