namespace Guest.Tests;

/// <summary>
/// Issue 5, must-shows 1 and 2: the self-booting disk (build/boot-disk.qed: MBR boot code, SYSLINUX on a FAT
/// partition, ext4 root on partition 2) boots under the emulator's default firmware with no -kernel at all.
/// </summary>
[TestFixtureSource(typeof(GuestEmulator), nameof(GuestEmulator.Selected))]
public sealed class BootDiskTests(GuestEmulator emulator) : GuestTestBase(emulator)
{
    const long RootPartitionStart = 34816L * 512;   // sfdisk layout in guest-images/build.sh

    [Test]
    public void BootsThroughFirmwareAndSyslinux_ToAShellWithRootOnVda2()
    {
        var disk = CopyOf("boot-disk.qed");
        var console = Boot(noReboot: true, "-drive", $"file={disk},format=qed,if=virtio");
        if (Emulator == GuestEmulator.Emu)
        {
            // emu's default firmware is the project's BIOS (bin/bios.bin); QEMU's is SeaBIOS.
            console.WaitFor(@"emu BIOS \d+\.\d+", BootTimeout, "the project BIOS's banner");
            console.WaitFor(@"Disk 80h: virtio-blk, 262144 sectors", BootTimeout, "the BIOS's virtio-blk disk (128 MiB)");
            console.WaitFor(@"Booting from disk 80h\.\.\.", BootTimeout, "the BIOS loading the MBR");
        }
        console.WaitFor(@"SYSLINUX \d+\.\d+", BootTimeout, "SYSLINUX's banner");
        console.WaitFor(@"Linux version 6\.1", BootTimeout, "the kernel's banner");
        var shell = new GuestShell(console);
        shell.WaitUntilReady(BootTimeout);

        Assert.That(shell.Check("cat /proc/cmdline"), Does.Contain("console=ttyS0 root=/dev/vda2 rw"), "syslinux.cfg's APPEND line");
        AssertRootIsExt4On(shell, "/sys/block/vda/vda2/dev");
        Assert.That(shell.Check("cat /sys/block/vda/vda1/start /sys/block/vda/vda2/start").Split('\n', StringSplitOptions.RemoveEmptyEntries),
            Is.EqualTo(new[] { "2048", "34816" }), "the MBR partition table as the kernel read it");
        shell.Check("echo booted-from-disk > /root/boot-note && sync");

        console.SendLine("poweroff");
        Assert.That(console.WaitForExit(ExitTimeout), Is.EqualTo(GuestEmulator.PowerOffStatus));
        AssertQemuImgCheckClean(disk);

        // The root partition on its own, checked and read back like the direct-boot disk.
        var raw = ToRaw(disk);
        var partition = Path.Combine(WorkDir, "root-partition.ext4");
        using (var input = File.OpenRead(raw))
        using (var output = File.Create(partition))
        {
            input.Seek(RootPartitionStart, SeekOrigin.Begin);
            input.CopyTo(output);
        }
        AssertExt4Clean(partition);
        Assert.That(System.Text.Encoding.ASCII.GetString(ReadFromExt4(partition, "/root/boot-note")), Is.EqualTo("booted-from-disk\n"));
    }
}
