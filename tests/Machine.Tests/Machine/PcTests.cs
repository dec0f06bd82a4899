using System.Diagnostics;
using Emulator.Boot;
using Emulator.Cpu;
using Emulator.Devices;
using Emulator.Machine;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Machine;

/// <summary>The board with a scripted stand-in CPU: assembly, direct boot, the event loop, exits and resets.</summary>
public class PcTests
{
    private string kernelPath = null!;
    private readonly List<string> tempFiles = new();
    private CaptureBackend com1 = null!;
    private readonly List<TestBlockDevice> disks = new();
    private StringWriter diagnostics = null!;

    [SetUp]
    public void SetUp()
    {
        kernelPath = SyntheticKernel.WriteTemp(SyntheticKernel.Build());
        tempFiles.Add(kernelPath);
        com1 = new CaptureBackend();
        disks.Clear();
        diagnostics = new StringWriter();
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var f in tempFiles) File.Delete(f);
    }

    private Pc Build(MachineOptions? options = null, Action<FakeCpu>? configure = null, TimeSpan diskDelay = default)
    {
        options ??= new MachineOptions();
        if (options.Kernel == null && options.Bios == null) options = options with { Kernel = kernelPath };
        return new Pc(options, (m, io, pin) =>
            {
                var cpu = new FakeCpu(m, io, pin);
                configure?.Invoke(cpu);
                return cpu;
            },
            drive =>
            {
                var d = new TestBlockDevice(4 << 20) { Delay = diskDelay, IsReadOnly = false };
                disks.Add(d);
                return d;
            },
            serial => serial.Kind == CharBackendKind.Stdio ? com1 : new NullCharBackend(),
            diagnostics);
    }

    private static MachineOptions WithDisk(MachineOptions o) => o with { Drives = new[] { new DriveOptions { File = "test.qed" } } };

    [Test]
    public async Task DirectBootPreparesTheBoardAsFirmwareWould()
    {
        await using var pc = Build(WithDisk(new MachineOptions { MemoryBytes = 64u << 20, Append = "console=ttyS0" }));
        pc.PowerOn();
        var cpu = (FakeCpu)pc.Cpu;
        Assert.That(cpu.Eip, Is.EqualTo(0x100000u));
        Assert.That(cpu.Segments[SegmentRegister.CS].Selector, Is.EqualTo(0x10));
        Assert.That(pc.BootLayout, Is.Not.Null);

        var disk = pc.Disks.Single();
        Assert.That(disk.Name, Is.EqualTo("vda"));
        Assert.That(disk.Transport.DeviceNumber, Is.EqualTo(3));
        Assert.That(disk.Transport.ReadConfig(0x3C, 1), Is.EqualTo(11u), "QEMU put the virtio disk on IRQ 11");
        Assert.That(disk.Transport.Bars.All(b => b.MappedAt != null), Is.True, "BARs assigned and decoded");
        Assert.That(pc.Pic.Elcr & 0x0C00, Is.EqualTo(0x0C00), "IRQ 10 and 11 level-triggered");
        Assert.That(pc.PciHost.GetPam(0), Is.EqualTo(0x30), "BIOS area is RAM");

        // The CMOS bytes a BIOS reads for the memory size (RBIL: CMOS 15h-18h, 30h-31h, 34h-35h).
        Assert.That(pc.Rtc[0x15] | pc.Rtc[0x16] << 8, Is.EqualTo(640));
        Assert.That(pc.Rtc[0x17] | pc.Rtc[0x18] << 8, Is.EqualTo((64 << 10) - 1024));
        Assert.That(pc.Rtc[0x30] | pc.Rtc[0x31] << 8, Is.EqualTo((64 << 10) - 1024));
        Assert.That(pc.Rtc[0x34] | pc.Rtc[0x35] << 8, Is.EqualTo(((64 << 20) - (16 << 20)) >> 16));
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += pc.Rtc[i];
        Assert.That(pc.Rtc[0x2E] << 8 | pc.Rtc[0x2F], Is.EqualTo(sum), "CMOS checksum");

        Assert.That(pc.Memory.Read8(0xA0000), Is.EqualTo(0xFF), "no VGA: the window is empty");
        Assert.That(pc.Memory.Describe(0xFEC0_0000 - 1), Does.Contain("virtio").Or.EqualTo("unassigned"));
    }

    [Test]
    public async Task GuestOutputOnCom1ReachesTheSerialBackend()
    {
        await using var pc = Build(new MachineOptions { DebugExit = (0x501, 2) }, cpu => cpu.Script = (c, _) =>
        {
            foreach (char ch in "Linux version\r\n") c.Io.Out(0x3F8, 1, ch);
            c.Io.Out(0x501, 1, 0);
            return c.StopRequested ? CpuExit.Stopped : CpuExit.BudgetExhausted;
        });
        var exit = pc.Run();
        Assert.That(exit.ExitCode, Is.EqualTo(1));
        Assert.That(com1.Text, Is.EqualTo("Linux version\r\n"));
    }

    [Test]
    public async Task HostInputReachesTheGuestThroughTheUart()
    {
        string got = "";
        await using var pc = Build(new MachineOptions { DebugExit = (0x501, 2) }, cpu => cpu.Script = (c, budget) =>
        {
            while ((c.Io.In(0x3FD, 1) & 1) != 0) got += (char)c.Io.In(0x3F8, 1);
            if (got == "root\r") c.Io.Out(0x501, 1, 0x10);
            return c.Retire(Math.Min(budget, 1000));
        });
        com1.Type("root\r");
        var exit = pc.Run();
        Assert.That(exit.ExitCode, Is.EqualTo(0x21));
        Assert.That(got, Is.EqualTo("root\r"));
    }

    [Test]
    public async Task KeyboardControllerResetWithNoRebootEndsTheRun()
    {
        await using var pc = Build(new MachineOptions { NoReboot = true }, cpu => cpu.Script = (c, _) =>
        {
            c.Io.Out(0x64, 1, 0xFE);
            return CpuExit.Stopped;
        });
        var exit = pc.Run();
        Assert.That(exit.ExitCode, Is.EqualTo(0));
        Assert.That(exit.Reason, Does.Contain("reset").And.Contain("-no-reboot"));
    }

    [Test]
    public async Task ResetWithoutNoRebootBootsTheKernelAgain()
    {
        int boots = 0;
        await using var pc = Build(new MachineOptions { DebugExit = (0x501, 2) }, cpu => cpu.Script = (c, _) =>
        {
            if (c.Eip == 0x100000) { boots++; c.Eip = 0; }   // "ran" the kernel
            if (boots == 1) c.Io.Out(0x64, 1, 0xFE);        // reboot the first time
            else c.Io.Out(0x501, 1, 2);
            return CpuExit.Stopped;
        });
        var exit = pc.Run();
        Assert.That(boots, Is.EqualTo(2), "the kernel was loaded and entered again after the reset");
        Assert.That(exit.ExitCode, Is.EqualTo(5));
        Assert.That(pc.ResetCount, Is.EqualTo(1));
        Assert.That(((FakeCpu)pc.Cpu).ResetCount, Is.EqualTo(2), "power-on and the reboot");
    }

    [Test]
    public async Task TripleFaultResetsTheMachine()
    {
        await using var pc = Build(new MachineOptions { NoReboot = true }, cpu => cpu.Script = (_, _) => CpuExit.Shutdown);
        var exit = pc.Run();
        Assert.That(exit.Reason, Does.Contain("triple fault"));
    }

    [Test]
    public async Task HaltWithInterruptsDisabledIsPowerOff()
    {
        await using var pc = Build(null, cpu => cpu.Script = (c, _) => c.Hlt());
        var exit = pc.Run();
        Assert.That(exit.ExitCode, Is.EqualTo(0));
        Assert.That(exit.Reason, Does.Contain("halted"));
    }

    [Test]
    public async Task ExitRequestedFromAnotherThreadStopsTheLoop()
    {
        await using var pc = Build(null, cpu => cpu.Script = (c, budget) => c.Retire(Math.Min(budget, 10_000)));
        var t = new Thread(() => { Thread.Sleep(50); pc.RequestExit(0, "Ctrl-A x"); });
        t.Start();
        var exit = pc.Run();
        t.Join();
        Assert.That(exit.Reason, Is.EqualTo("Ctrl-A x"));
    }

    /// <summary>What Linux does to get its timer tick: PIC initialised, PIT channel 0 in mode 2, STI; HLT in the idle
    /// loop. The CPU sleeps between ticks and each tick arrives as vector 0x30.</summary>
    [TestCase(ClockMode.Host)]
    [TestCase(ClockMode.Deterministic)]
    public async Task HaltedCpuWakesForPitTicks(ClockMode mode)
    {
        int ticks = 0;
        bool started = false;
        await using var pc = Build(new MachineOptions { DebugExit = (0x501, 2), ClockMode = mode }, cpu => cpu.Script = (c, _) =>
        {
            if (!started)
            {
                started = true;
                InitPic(c);
                c.Io.Out(0x43, 1, 0x34);
                c.Io.Out(0x40, 1, 1193 & 0xFF);          // about 1 ms
                c.Io.Out(0x40, 1, 1193 >> 8);
                c.InterruptsEnabled = true;
            }
            var r = c.Hlt();
            foreach (var v in c.Interrupts) { Assert.That(v, Is.EqualTo(0x30)); ticks++; c.Io.Out(0x20, 1, 0x20); }
            c.Interrupts.Clear();
            if (ticks >= 5) c.Io.Out(0x501, 1, 0);
            return r;
        });
        var sw = Stopwatch.StartNew();
        var exit = pc.Run();
        Assert.That(exit.ExitCode, Is.EqualTo(1));
        Assert.That(ticks, Is.EqualTo(5));
        if (mode == ClockMode.Host) Assert.That(sw.Elapsed.TotalMilliseconds, Is.GreaterThanOrEqualTo(3.5), "ticks follow the host clock");
        else Assert.That(pc.Clock.NowNs, Is.GreaterThanOrEqualTo(5 * 1193 * 1_000_000_000L / 1_193_182), "virtual time jumped over the halts");
    }

    private static void InitPic(FakeCpu c)
    {
        c.Io.Out(0x20, 1, 0x11); c.Io.Out(0x21, 1, 0x30); c.Io.Out(0x21, 1, 0x04); c.Io.Out(0x21, 1, 0x01);
        c.Io.Out(0xA0, 1, 0x11); c.Io.Out(0xA1, 1, 0x38); c.Io.Out(0xA1, 1, 0x02); c.Io.Out(0xA1, 1, 0x01);
        c.Io.Out(0x21, 1, 0x00); c.Io.Out(0xA1, 1, 0x00);
    }

    /// <summary>
    /// Must-show 4 at board level: a disk read submitted by the guest is in flight on the host while guest
    /// instructions keep retiring, and its interrupt (IRQ 11, vector 0x3B) arrives only after the host finished.
    /// </summary>
    [Test]
    public async Task GuestKeepsRunningWhileItsDiskReadIsInFlight()
    {
        long submittedAt = -1, interruptAt = -1, interruptHostTicks = 0;
        BlkRequest? read = null;
        MiniVirtioDriver? driver = null;
        await using var pc = Build(WithDisk(new MachineOptions { DebugExit = (0x501, 2) }), cpu => cpu.Script = (c, budget) =>
        {
            if (driver == null)
            {
                InitPic(c);
                driver = new MiniVirtioDriver(c.Memory, c.Io, 3, heapStart: 0x400000);
                driver.MapBars(0xC000, 0xFE00_0000);
                Assert.That(driver.InitModern(~0UL & ~(1UL << 30)), Is.True);
                c.InterruptsEnabled = true;
                read = driver.Read(0, 4096);
                submittedAt = c.InstructionCount;
            }
            var r = c.Retire(Math.Min(budget, 2000));
            if (c.Interrupts.Count > 0 && interruptAt < 0)
            {
                interruptAt = c.InstructionCount;
                interruptHostTicks = Stopwatch.GetTimestamp();
                Assert.That(c.Interrupts[0], Is.EqualTo(0x38 + 3));
                driver.ReadIsr();
                driver.ReapUsed();
                c.Io.Out(0x501, 1, 0);
            }
            return r;
        }, diskDelay: TimeSpan.FromMilliseconds(100));
        var exit = pc.Run();
        Assert.That(exit.ExitCode, Is.EqualTo(1));
        Assert.That(read!.Done, Is.True);
        Assert.That(interruptAt - submittedAt, Is.GreaterThan(10_000), "instructions retired while the read was in flight");
        Assert.That(interruptHostTicks, Is.GreaterThan(disks[0].CompletedAt), "the interrupt came after the host completion");
        TestContext.Out.WriteLine($"instructions retired during the 100 ms read: {interruptAt - submittedAt}");
    }

    [Test]
    public async Task DeterministicModeDeliversTheDiskInterruptAtTheModelledInstruction()
    {
        long Run(TimeSpan hostDelay)
        {
            long submittedAt = -1, interruptAt = -1;
            MiniVirtioDriver? driver = null;
            var pc = Build(WithDisk(new MachineOptions { DebugExit = (0x501, 2), ClockMode = ClockMode.Deterministic }), cpu => cpu.Script = (c, budget) =>
            {
                if (driver == null)
                {
                    InitPic(c);
                    driver = new MiniVirtioDriver(c.Memory, c.Io, 3, heapStart: 0x400000);
                    driver.MapBars(0xC000, 0xFE00_0000);
                    driver.InitModern(~0UL & ~(1UL << 30));
                    c.InterruptsEnabled = true;
                    driver.Read(0, 4096);
                    submittedAt = c.InstructionCount;
                }
                // One instruction at a time, so the interrupt is seen at the exact instruction it arrives.
                var r = c.Retire(Math.Min(budget, 1));
                if (c.Interrupts.Count > 0 && interruptAt < 0)
                {
                    interruptAt = c.InstructionCount;
                    c.Io.Out(0x501, 1, 0);
                }
                return r;
            }, diskDelay: hostDelay);
            pc.Run();
            pc.DisposeAsync().AsTask().Wait();
            return interruptAt - submittedAt;
        }
        long fast = Run(TimeSpan.Zero), slow = Run(TimeSpan.FromMilliseconds(80));
        Assert.That(slow, Is.EqualTo(fast), "the host's speed does not change what the guest sees");
        Assert.That(fast, Is.GreaterThan(0));
        await Task.CompletedTask;
    }

    [Test]
    public void BadKernelPathIsAOneLineBootError()
    {
        var e = Assert.Throws<BootException>(() => Build(new MachineOptions { Kernel = "/nonexistent/bzImage" }));
        Assert.That(e!.Message, Does.Contain("/nonexistent/bzImage"));
    }

    [Test]
    public void DriveOpenFailurePropagatesAndClosesWhatWasOpened()
    {
        int opened = 0;
        var disk = new TestBlockDevice(1 << 20);
        var options = new MachineOptions { Kernel = kernelPath, Drives = new[] { new DriveOptions { File = "a" }, new DriveOptions { File = "b" } } };
        var e = Assert.Throws<Qed.ImageFormatException>(() => new Pc(options, (m, io, pin) => new FakeCpu(m, io, pin), d =>
        {
            if (opened++ == 0) return disk;
            throw new Qed.ImageFormatException("b: Image not in QED format");
        }, _ => new NullCharBackend(), diagnostics));
        Assert.That(e!.Message, Does.Contain("not in QED format"));
        Assert.That(disk.Disposed, Is.True);
    }

    [Test]
    public async Task FirmwareIsMappedBelow4GiBAndItsLast128KiBBelow1MiB()
    {
        var rom = new byte[256 << 10];
        new Random(3).NextBytes(rom);
        string path = Path.Combine(Path.GetTempPath(), $"emu-bios-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, rom);
        tempFiles.Add(path);
        await using var pc = Build(new MachineOptions { Bios = path });
        pc.PowerOn();
        Assert.That(((FakeCpu)pc.Cpu).Eip, Is.EqualTo(0xFFF0u), "the CPU starts at the reset vector");
        Assert.That(pc.Memory.Read32(0xFFFF_FFF0), Is.EqualTo(BitConverter.ToUInt32(rom, rom.Length - 16)));
        Assert.That(pc.Memory.Read32(0xFFFF0), Is.EqualTo(BitConverter.ToUInt32(rom, rom.Length - 16)), "isa-bios alias");
        Assert.That(pc.Memory.Read8(0xE0000), Is.EqualTo(rom[rom.Length - (128 << 10)]));
        Assert.That(pc.Memory.Read8(0xD0000), Is.EqualTo(0xFF), "below the alias: nothing until PAM enables RAM");
        pc.PciHost.SetAllPam(0x33);
        pc.Memory.Write8(0xE0000, 0x42);
        Assert.That(pc.Memory.Read8(0xE0000), Is.EqualTo(0x42), "shadow RAM once the PAM registers say so");
    }

    [Test]
    public void FirmwareOfAnOddSizeIsRejected()
    {
        string path = Path.Combine(Path.GetTempPath(), $"emu-bios-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, new byte[1000]);
        tempFiles.Add(path);
        var e = Assert.Throws<BootException>(() => Build(new MachineOptions { Bios = path }));
        Assert.That(e!.Message, Does.Contain("64 KiB"));
    }
}
