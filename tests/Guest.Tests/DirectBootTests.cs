namespace Guest.Tests;

/// <summary>
/// Issue 4, must-shows 1 and 3: the guest kernel (build/bzImage) and its root filesystem (build/rootfs.qed, root on
/// /dev/vda) boot under the emulator; the test drives the shell over the serial console, writes through the
/// virtio disk into the QED image, powers off, and checks the image afterwards with the peers (qemu-img check,
/// e2fsck) and by reading the written file back on the host.
/// </summary>
[TestFixtureSource(typeof(GuestEmulator), nameof(GuestEmulator.Selected))]
public sealed class DirectBootTests(GuestEmulator emulator) : GuestTestBase(emulator)
{
    [Test]
    public void Shell_RunsCommands_WritesWithDd_PowersOff_ImageStaysClean()
    {
        var disk = CopyOf("rootfs.qed");
        var console = BootKernel(disk, "shell");
        var shell = new GuestShell(console);
        shell.WaitUntilReady(BootTimeout);

        Assert.That(shell.Check("uname -sm").Trim(), Is.EqualTo("Linux i686"), "the kernel is built for M686");
        Assert.That(shell.Check("cat /proc/cmdline"), Does.Contain("root=/dev/vda rw panic=-1 guest.mode=shell"));
        AssertRootIsExt4On(shell, "/sys/block/vda/dev");
        var (_, status) = shell.Run("ls /no-such-file");
        Assert.That(status, Is.Not.EqualTo(0), "a failing command reports its status through the marker");

        shell.Check("dd if=/dev/urandom of=/root/data.bin bs=64k count=64 && sync", TimeSpan.FromSeconds(30));
        var guestMd5 = ParseMd5sum(shell.Check("md5sum /root/data.bin"), "/root/data.bin");
        Assert.That(shell.Check("stat -c %s /root/data.bin").Trim(), Is.EqualTo((4 << 20).ToString()));

        console.SendLine("poweroff");
        console.WaitFor("GUEST-POWEROFF", ExitTimeout);
        Assert.That(console.WaitForExit(ExitTimeout), Is.EqualTo(GuestEmulator.PowerOffStatus),
            "exit status of the debug-exit port after writing 0");

        AssertQemuImgCheckClean(disk);
        var raw = ToRaw(disk);
        AssertExt4Clean(raw);
        var onHost = ReadFromExt4(raw, "/root/data.bin");
        Assert.That(onHost, Has.Length.EqualTo(4 << 20));
        Assert.That(Md5Hex(onHost), Is.EqualTo(guestMd5), "the file read back from the QED image on the host");
    }

    [Test]
    public void Shell_OwnsTheConsoleTerminal_AndCtrlCInterruptsItsForegroundJob()
    {
        var disk = CopyOf("rootfs.qed");
        var console = BootKernel(disk, "shell");
        var shell = new GuestShell(console);
        shell.WaitUntilReady(BootTimeout);
        Assert.That(shell.Check("tty").Trim(), Is.EqualTo("/dev/ttyS0"), "cttyhack gave the shell the real console");

        console.SendLine("sleep 60; echo slept-through");
        console.WaitFor("sleep 60; echo slept-through", ExitTimeout, "the echo of the typed line");
        Thread.Sleep(300);   // let the shell start the sleep before the interrupt arrives
        console.Send("\u0003");
        console.WaitFor(@"guest:[^\r\n#]*# ", TimeSpan.FromSeconds(10), "the prompt after Ctrl-C");
        // Only the output can be a line of its own; the typed line's echo starts with the prompt.
        Assert.That(console.Transcript, Does.Not.Match(@"(?m)^slept-through\r?$"), "Ctrl-C ended the whole command line");
        Assert.That(shell.Check("echo still-here").Trim(), Is.EqualTo("still-here"));

        console.SendLine("poweroff");
        Assert.That(console.WaitForExit(ExitTimeout), Is.EqualTo(GuestEmulator.PowerOffStatus));
    }

    [Test]
    public void RebootDashF_ResetsTheMachine_AndTheDataSurvivesIt()
    {
        // The flow of the machine's must-show: 16 MiB dd, sync, md5sum, a real reset, read back, power off.
        var disk = CopyOf("rootfs.qed");
        var console = BootKernel(disk, "shell", noReboot: false);
        var shell = new GuestShell(console);
        shell.WaitUntilReady(BootTimeout);
        shell.Check("dd if=/dev/urandom of=/root/before-reset.bin bs=64k count=256 && sync", TimeSpan.FromSeconds(30));
        var before = ParseMd5sum(shell.Check("md5sum /root/before-reset.bin"), "/root/before-reset.bin");

        console.SendLine("reboot -f");
        console.WaitFor(@"reboot: Restarting system", ExitTimeout, "the kernel's restart message");
        // A real reset: the firmware and the kernel run again from the start, then init and the shell.
        console.WaitFor(@"Linux version 6\.1", BootTimeout, "the kernel's banner of the second boot");
        shell.WaitUntilReady(BootTimeout);
        var after = ParseMd5sum(shell.Check("md5sum /root/before-reset.bin"), "/root/before-reset.bin");
        Assert.That(after, Is.EqualTo(before), "the 16 MiB file read back after the reset");

        console.SendLine("poweroff");
        Assert.That(console.WaitForExit(ExitTimeout), Is.EqualTo(GuestEmulator.PowerOffStatus));
        AssertQemuImgCheckClean(disk);
        var raw = ToRaw(disk);
        AssertExt4Clean(raw);
        Assert.That(Md5Hex(ReadFromExt4(raw, "/root/before-reset.bin")), Is.EqualTo(before), "the file read back on the host");
    }

    [Test]
    public void Reboot_WithNoReboot_EndsTheRunCleanly()
    {
        var disk = CopyOf("rootfs.qed");
        var console = BootKernel(disk, "shell");
        var shell = new GuestShell(console);
        shell.WaitUntilReady(BootTimeout);
        shell.Check("echo written-before-reboot > /root/note && sync");

        console.SendLine("reboot");
        console.WaitFor("GUEST-REBOOT", ExitTimeout);
        Assert.That(console.WaitForExit(ExitTimeout), Is.EqualTo(0), "-no-reboot turns the reset into a normal exit");
        Assert.That(console.Transcript, Does.Not.Match(@"Linux version 6\.1[\s\S]*Linux version 6\.1"), "no second boot");

        AssertQemuImgCheckClean(disk);
        var raw = ToRaw(disk);
        AssertExt4Clean(raw);
        Assert.That(System.Text.Encoding.ASCII.GetString(ReadFromExt4(raw, "/root/note")), Is.EqualTo("written-before-reboot\n"));
    }

    [Test]
    public void DemoMode_RunsWithoutATerminal_AndPowersOff()
    {
        var disk = CopyOf("rootfs.qed");
        var console = BootKernel(disk, "demo");
        console.CloseInput();
        console.WaitFor(@"GUEST-UP: userspace is running \(mode=demo", BootTimeout);
        console.WaitFor("GUEST-DEMO: start", BootTimeout);
        var md5 = console.WaitFor(@"(?m)^([0-9a-f]{32})\s+/root/demo\.bin\s*$", BootTimeout, "the demo's md5sum line");
        console.WaitFor("GUEST-DEMO: done", BootTimeout);
        Assert.That(console.WaitForExit(ExitTimeout), Is.EqualTo(GuestEmulator.PowerOffStatus));

        AssertQemuImgCheckClean(disk);
        var raw = ToRaw(disk);
        AssertExt4Clean(raw);
        Assert.That(Md5Hex(ReadFromExt4(raw, "/root/demo.bin")), Is.EqualTo(md5.Groups[1].Value));
    }
}
