using System.Diagnostics;
using System.Security.Cryptography;
using Emulator.Bus;
using Emulator.Cpu;
using Emulator.Devices;
using Emulator.Machine;
using Qed;

namespace Guest.Tests;

/// <summary>
/// Issue 4, must-show 4: disk I/O completes asynchronously. This project's PC runs in-process with the real
/// X86Cpu executing real guest code, a real-mode program assembled with nasm
/// (GuestPrograms/virtio-irq-wait.asm) that drives virtio-blk's legacy interface: it queues a one-sector read,
/// notifies the device and then counts loop iterations until the disk's interrupt arrives. The backend, the QED
/// image behind an injected 100 ms delay, records when the read was asked for and when it completed; a probe
/// port records the guest instruction count and host time at the notify and at the entry of the IRQ handler.
/// </summary>
public sealed class AsyncCompletionTests
{
    static readonly TimeSpan BackendDelay = TimeSpan.FromMilliseconds(100);
    const ushort ProbePort = 0x6F0;   // the program's MARK
    const int Sector = 1;                    // the program's SECTOR
    const uint DataBuffer = 0x20010, StatusByte = 0x20210, Results = 0x500;

    string _work = "";

    [SetUp]
    public void CreateWorkDir() => _work = Directory.CreateTempSubdirectory("async-completion-").FullName;

    [TearDown]
    public void RemoveWorkDir() => Directory.Delete(_work, recursive: true);

    /// <summary>Port writes of the guest program: value, guest instruction count, host time.</summary>
    sealed class ProbePortDevice(Func<long> instructionCount) : IPortDevice
    {
        public readonly List<(uint Value, long Instructions, long At)> Writes = [];
        public uint In(ushort port, int size) => 0xFF;
        public void Out(ushort port, int size, uint value) => Writes.Add((value, instructionCount(), Stopwatch.GetTimestamp()));
    }

    [Test]
    public void GuestInstructionsRetireWhileTheReadIsInFlight_AndTheInterruptComesAfterTheCompletion()
    {
        var rom = Path.Combine(_work, "virtio-irq-wait.bin");
        var source = Path.Combine(AppContext.BaseDirectory, "GuestPrograms", "virtio-irq-wait.asm");
        var nasm = HostTool.Run("nasm", "nasm", "-f", "bin", "-o", rom, source);
        Assert.That(nasm.Status, Is.EqualTo(0), $"nasm failed:\n{nasm.Output}");

        // The disk: 1 MiB of random bytes, as QED (made by qemu-img, a peer, so only the reading side is ours).
        var raw = Path.Combine(_work, "disk.raw");
        var bytes = RandomNumberGenerator.GetBytes(1 << 20);
        File.WriteAllBytes(raw, bytes);
        var qed = Path.Combine(_work, "disk.qed");
        var convert = HostTool.Run("qemu-img", "qemu-utils", "convert", "-f", "raw", "-O", "qed", raw, qed);
        Assert.That(convert.Status, Is.EqualTo(0), convert.Output);

        Pc? pc = null;
        long Instructions() => pc?.Cpu.InstructionCount ?? -1;
        DelayedBlockDevice? disk = null;
        var options = new MachineOptions
        {
            Bios = rom,
            Drives = [new DriveOptions { File = qed, Format = DriveFormat.Qed }],
            Serials = [new SerialOptions { Kind = CharBackendKind.Null }],
        };
        pc = new Pc(options, (memory, io, pin) => new X86Cpu(memory, io, pin),
            drive => disk = new DelayedBlockDevice(
                ImageOpener.OpenAsync(drive.File, "qed").GetAwaiter().GetResult(), BackendDelay, Instructions),
            _ => new NullCharBackend(), TestContext.Out);
        var probe = new ProbePortDevice(Instructions);
        pc.Io.Register(ProbePort, 1, probe);

        MachineExit? exit = null;
        var runner = new Thread(() => exit = pc.Run()) { IsBackground = true, Name = "guest" };
        runner.Start();
        if (!runner.Join(TimeSpan.FromSeconds(30)))
        {
            pc.RequestExit(99, "the test's time limit");
            runner.Join(TimeSpan.FromSeconds(5));
            Assert.Fail($"the guest program did not finish within 30 s; probe writes: {string.Join(", ", probe.Writes)}");
        }
        try
        {
            Assert.That(exit!.ExitCode, Is.EqualTo(1), $"the program's write of 0 to isa-debug-exit ({exit.Reason})");

            var read = disk!.Reads.Single();
            Assert.That((read.Offset, read.Length), Is.EqualTo(((long)Sector * 512, 512)), "the one sector the program asked for");
            Assert.That(probe.Writes.Select(w => w.Value), Is.EqualTo(new uint[] { 1, 2 }), "notify marker, then the IRQ handler's marker");
            var (_, notifyAt, _) = probe.Writes[0];
            var (_, irqAt, irqTime) = probe.Writes[1];

            // Guest-visible results: the loop counter, the ISR value, the used index, the status and the data.
            long loops = pc.Memory.Read32(Results);
            Assert.That(pc.Memory.Read8(Results + 4), Is.EqualTo(1), "the IRQ handler ran");
            Assert.That(pc.Memory.Read8(Results + 5) & 1, Is.EqualTo(1), "ISR bit 0: a queue interrupt");
            Assert.That(pc.Memory.Read16(Results + 6), Is.EqualTo(1), "used ring index after one request");
            Assert.That(pc.Memory.Read8(StatusByte), Is.EqualTo(0), "VIRTIO_BLK_S_OK");
            var data = new byte[512];
            for (int i = 0; i < data.Length; i++) data[i] = (byte)pc.Memory.Read8(DataBuffer + (uint)i);
            Assert.That(data, Is.EqualTo(bytes.AsSpan(Sector * 512, 512).ToArray()), "the sector in the guest's buffer");

            double inFlightMs = Stopwatch.GetElapsedTime(read.SubmittedAt, read.CompletedAt).TotalMilliseconds;
            TestContext.Out.WriteLine(
                $"read submitted at guest instruction {read.InstructionsAtSubmit} (notify at {notifyAt}); in flight {inFlightMs:0.0} ms; " +
                $"IRQ handler entered at instruction {irqAt}, {Stopwatch.GetElapsedTime(read.CompletedAt, irqTime).TotalMilliseconds:0.000} ms after the completion; " +
                $"{irqAt - read.InstructionsAtSubmit} guest instructions retired meanwhile, {loops} iterations of the wait loop");

            Assert.That(read.InstructionsAtSubmit, Is.GreaterThanOrEqualTo(notifyAt).And.LessThan(notifyAt + 10),
                "the device asked the backend during the notify");
            Assert.That(read.CompletedAt, Is.GreaterThan(0), "the read completed");
            Assert.That(inFlightMs, Is.GreaterThanOrEqualTo(BackendDelay.TotalMilliseconds * 0.9), "the injected delay");
            Assert.That(irqTime, Is.GreaterThan(read.CompletedAt), "the interrupt arrived after the backend completed");
            // The loop is three instructions (inc, cmp, je): most of the instructions retired were the guest's loop.
            Assert.That(loops, Is.GreaterThan(10_000), "the guest kept running while the read was in flight");
            Assert.That(irqAt - notifyAt, Is.GreaterThanOrEqualTo(3 * loops), "the loop's instructions were retired between notify and IRQ");
        }
        finally
        {
            pc.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
