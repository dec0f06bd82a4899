using Emulator.Machine;
using Emulator.Virtio;
using NUnit.Framework;

namespace Machine.Tests.Machine;

public class OptionTests
{
    [Test]
    public void TheGuestRecipesQemuLineParses()
    {
        var o = QemuCommandLine.Parse(new[] { "-accel", "tcg", "-cpu", "pentium3", "-m", "128", "-nographic", "-no-reboot",
            "-kernel", "bzImage", "-append", "console=ttyS0 root=/dev/vda rw panic=-1",
            "-drive", "file=root.qed,format=qed,if=virtio" });
        Assert.That(o.MemoryBytes, Is.EqualTo(128u << 20));
        Assert.That(o.Kernel, Is.EqualTo("bzImage"));
        Assert.That(o.Append, Is.EqualTo("console=ttyS0 root=/dev/vda rw panic=-1"));
        Assert.That(o.NoGraphic && o.NoReboot, Is.True);
        Assert.That(o.Drives.Single(), Is.EqualTo(new DriveOptions { File = "root.qed", Format = DriveFormat.Qed }));
    }

    [TestCase("128", 128u << 20)]
    [TestCase("128M", 128u << 20)]
    [TestCase("256m", 256u << 20)]
    [TestCase("1G", 1u << 30)]
    [TestCase("1.5G", 3u << 29)]
    [TestCase("size=64M", 64u << 20)]
    [TestCase("65536k", 64u << 20)]
    public void MemorySizesAsQemuSpellsThem(string text, uint bytes) =>
        Assert.That(QemuCommandLine.ParseMemory(text), Is.EqualTo(bytes));

    [TestCase("4G", "at most")]
    [TestCase("1M", "at least")]
    [TestCase("lots", "not a memory size")]
    [TestCase("12Q", "suffix")]
    public void BadMemorySizesAreOneLineErrors(string text, string message)
    {
        var e = Assert.Throws<MachineOptionException>(() => QemuCommandLine.ParseMemory(text));
        Assert.That(e!.Message, Does.Contain(message).And.Contain("-m"));
    }

    [Test]
    public void DriveOptionsWithEveryKey()
    {
        var d = DriveOptions.Parse("file=/tmp/a,,b.qed,format=qed,if=virtio,readonly=on,cache=unsafe,serial=ABC");
        Assert.That(d.File, Is.EqualTo("/tmp/a,b.qed"), "a doubled comma is a literal comma");
        Assert.That((d.Format, d.ReadOnly, d.Cache, d.Serial), Is.EqualTo(((DriveFormat?)DriveFormat.Qed, true, DiskCacheMode.Unsafe, "ABC")));
        Assert.That(DriveOptions.Parse("disk.raw").File, Is.EqualTo("disk.raw"), "a leading value is the file");
        Assert.That(DriveOptions.Parse("file=x,cache=none,readonly=off").Cache, Is.EqualTo(DiskCacheMode.None));
    }

    [TestCase("format=qed", "missing file=")]
    [TestCase("file=x,format=vmdk", "unsupported format 'vmdk'")]
    [TestCase("file=x,if=ide", "only if=virtio")]
    [TestCase("file=x,cache=fast", "invalid cache mode")]
    [TestCase("file=x,readonly=maybe", "expected on or off")]
    [TestCase("file=x,bogus=1", "unknown parameter 'bogus'")]
    [TestCase("file=x,serial=012345678901234567890", "longer than 20")]
    public void BadDriveOptionsNameTheProblem(string text, string message)
    {
        var e = Assert.Throws<MachineOptionException>(() => DriveOptions.Parse(text));
        Assert.That(e!.Message, Does.Contain(message).And.StartWith("-drive"));
    }

    [Test]
    public void MissingFormatIsProbedFromTheMagic()
    {
        string qed = Path.GetTempFileName(), raw = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(qed, "QED\0\0\0\0\0"u8.ToArray());
            File.WriteAllBytes(raw, new byte[512]);
            Assert.That(new DriveOptions { File = qed }.ResolveFormat(), Is.EqualTo(DriveFormat.Qed));
            Assert.That(new DriveOptions { File = raw }.ResolveFormat(), Is.EqualTo(DriveFormat.Raw));
            Assert.That(new DriveOptions { File = raw, Format = DriveFormat.Qed }.ResolveFormat(), Is.EqualTo(DriveFormat.Qed));
            Assert.Throws<MachineOptionException>(() => new DriveOptions { File = "/nonexistent/x" }.ResolveFormat());
        }
        finally
        {
            File.Delete(qed);
            File.Delete(raw);
        }
    }

    [Test]
    public void SerialBackends()
    {
        Assert.That(SerialOptions.Parse("stdio").Kind, Is.EqualTo(CharBackendKind.Stdio));
        Assert.That(SerialOptions.Parse("mon:stdio").Kind, Is.EqualTo(CharBackendKind.Stdio));
        Assert.That(SerialOptions.Parse("none").Absent, Is.True);
        Assert.That(SerialOptions.Parse("file:/tmp/log").Path, Is.EqualTo("/tmp/log"));
        var tcp = SerialOptions.Parse("tcp:127.0.0.1:4444,server,nowait");
        Assert.That((tcp.Kind, tcp.Host, tcp.Port, tcp.Server, tcp.Wait), Is.EqualTo((CharBackendKind.Tcp, "127.0.0.1", 4444, true, false)));
        var tcp2 = SerialOptions.Parse("tcp::5555,server=on,wait=off");
        Assert.That((tcp2.Host, tcp2.Port, tcp2.Server, tcp2.Wait), Is.EqualTo(("127.0.0.1", 5555, true, false)));
        Assert.That(SerialOptions.Parse("tcp:localhost:23").Server, Is.False);
    }

    [TestCase("pty", "not supported")]
    [TestCase("tcp:host", "tcp:[HOST]:PORT")]
    [TestCase("tcp:h:70000", "tcp:[HOST]:PORT")]
    [TestCase("file:", "missing file name")]
    [TestCase("tcp::1,server,telnet", "unknown parameter 'telnet'")]
    [TestCase("tcp:localhost:0", "only makes sense with server")]
    public void BadSerialSpecs(string text, string message)
    {
        var e = Assert.Throws<MachineOptionException>(() => SerialOptions.Parse(text));
        Assert.That(e!.Message, Does.Contain(message).And.StartWith("-serial"));
    }

    [Test]
    public void IcountRtcAndDebugExit()
    {
        var o = QemuCommandLine.Parse(new[] { "-kernel", "k", "-icount", "shift=3", "-rtc", "base=2020-05-06T07:08:09",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04" });
        Assert.That((o.ClockMode, o.InstructionShift), Is.EqualTo((ClockMode.Deterministic, 3)));
        Assert.That(o.RtcBase, Is.EqualTo(new DateTimeOffset(2020, 5, 6, 7, 8, 9, TimeSpan.Zero)));
        Assert.That(o.DebugExit, Is.EqualTo(((ushort)0xF4, 4)));
        Assert.That(o.RtcStart, Is.EqualTo(o.RtcBase));
        var det = QemuCommandLine.Parse(new[] { "-kernel", "k", "-icount", "2" });
        Assert.That(det.RtcStart, Is.EqualTo(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero)), "no host clock in deterministic mode");
    }

    [Test]
    public void SeveralDrivesAndSerialPortsKeepTheirOrder()
    {
        var o = QemuCommandLine.Parse(new[] { "-kernel", "k", "-drive", "file=a.qed", "-drive", "file=b.qed,readonly=on",
            "-serial", "null", "-serial", "file:/tmp/com2" });
        Assert.That(o.Drives.Select(d => d.File), Is.EqualTo(new[] { "a.qed", "b.qed" }));
        Assert.That(o.Serials.Select(s => s.Kind), Is.EqualTo(new[] { CharBackendKind.Null, CharBackendKind.File }));
    }

    [Test]
    public void WithoutKernelOrBios_TheDefaultFirmwareBoots_AndAMissingOneIsAClearError()
    {
        string firmware = Path.GetTempFileName();
        try
        {
            Assert.That(QemuCommandLine.Parse(new[] { "-drive", "file=d.qed" }, firmware).Bios, Is.EqualTo(firmware));
            Assert.That(QemuCommandLine.Parse(new[] { "-bios", "other.bin" }, firmware).Bios, Is.EqualTo("other.bin"));
            var direct = QemuCommandLine.Parse(new[] { "-kernel", "k" }, firmware);
            Assert.That((direct.Kernel, direct.Bios), Is.EqualTo(("k", (string?)null)), "a direct boot maps no firmware");
        }
        finally { File.Delete(firmware); }
        var e = Assert.Throws<MachineOptionException>(() => QemuCommandLine.Parse(new[] { "-drive", "file=d.qed" }, "/nonexistent/bios.bin"));
        Assert.That(e!.Message, Does.Contain("/nonexistent/bios.bin").And.Contain("-bios"));
    }

    [TestCase(new[] { "-kernel" }, "requires an argument")]
    [TestCase(new[] { "-kernel", "k", "-hda", "x" }, "-hda: unknown option")]
    [TestCase(new[] { "bzImage" }, "unexpected argument")]
    [TestCase(new string[0], "nothing to boot")]
    [TestCase(new[] { "-bios", "b", "-append", "x" }, "need -kernel")]
    [TestCase(new[] { "-kernel", "k", "-smp", "2" }, "only one CPU")]
    [TestCase(new[] { "-kernel", "k", "-machine", "q35" }, "i440FX")]
    [TestCase(new[] { "-kernel", "k", "-accel", "kvm" }, "only tcg")]
    [TestCase(new[] { "-kernel", "k", "-icount", "shift=11" }, "0 to 10")]
    [TestCase(new[] { "-kernel", "k", "-device", "e1000" }, "only isa-debug-exit")]
    [TestCase(new[] { "-kernel", "k", "-rtc", "base=yesterday" }, "base must be")]
    public void BadCommandLinesAreOneLineErrors(string[] args, string message)
    {
        var e = Assert.Throws<MachineOptionException>(() => QemuCommandLine.Parse(args));
        Assert.That(e!.Message, Does.Contain(message).And.Not.Contain("\n"));
    }
}
