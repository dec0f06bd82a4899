using Emulator.Cpu;
using Emulator.Machine;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Machine;

public class EmuCommandTests
{
    private static readonly Pc.CpuFactory Halting = (m, io, pin) => new FakeCpu(m, io, pin) { Script = (c, _) => c.Hlt() };

    private static (int Code, string Stderr) Run(string[] args, Pc.CpuFactory? cpu = null, Pc.DriveOpener? drives = null)
    {
        var err = new StringWriter();
        int code = EmuCommand.Run(args, cpu ?? Halting, drives ?? (d => new TestBlockDevice(1 << 20)), err);
        return (code, err.ToString());
    }

    [TestCase(new[] { "-m", "lots", "-kernel", "k" }, "-m lots")]
    [TestCase(new[] { "-kernel", "/nonexistent/bzImage", "-serial", "null" }, "/nonexistent/bzImage")]
    [TestCase(new[] { "-frobnicate" }, "-frobnicate")]
    public void UserErrorsAreOneLineAndExitStatus1(string[] args, string mention)
    {
        var (code, stderr) = Run(args);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.TrimEnd('\n'), Does.StartWith("emu: ").And.Contain(mention).And.Not.Contain("\n"));
        Assert.That(stderr, Does.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void ImageErrorsFromTheStorageLayerAreOneLine()
    {
        string kernel = SyntheticKernel.WriteTemp(SyntheticKernel.Build());
        try
        {
            var (code, stderr) = Run(new[] { "-kernel", kernel, "-serial", "null", "-drive", "file=bad.qed,format=qed" },
                drives: d => throw new Qed.ImageFormatException($"{d.File}: Image not in QED format"));
            Assert.That(code, Is.EqualTo(1));
            Assert.That(stderr, Is.EqualTo("emu: bad.qed: Image not in QED format" + Environment.NewLine));
        }
        finally
        {
            File.Delete(kernel);
        }
    }

    [Test]
    public void TheGuestsDebugExitValueBecomesTheExitStatus()
    {
        string kernel = SyntheticKernel.WriteTemp(SyntheticKernel.Build());
        try
        {
            var (code, _) = Run(new[] { "-kernel", kernel, "-serial", "null", "-device", "isa-debug-exit,iobase=0xf4,iosize=4" },
                (m, io, pin) => new FakeCpu(m, io, pin) { Script = (c, _) => { c.Io.Out(0xF4, 4, 0x31); return CpuExit.Stopped; } });
            Assert.That(code, Is.EqualTo(0x63));
            Assert.That(Run(new[] { "-kernel", kernel, "-serial", "null" }).Code, Is.EqualTo(0), "halt with interrupts off = power off");
        }
        finally
        {
            File.Delete(kernel);
        }
    }
}
