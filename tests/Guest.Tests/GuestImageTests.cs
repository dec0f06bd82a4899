using System.Text.RegularExpressions;

namespace Guest.Tests;

/// <summary>
/// The images guest-images/build.sh made, checked with the peers before anything boots them: each QED image
/// holds exactly the bytes of its raw source (the project's image tool converted it), the filesystems are
/// clean, and the boot disk has the MBR boot code and partition table the recipe asks for.
/// </summary>
public sealed class GuestImageTests
{
    [TestCase("rootfs")]
    [TestCase("boot-disk")]
    public void QedImage_HoldsTheRawImagesBytes_AndPassesQemuImgCheck(string name)
    {
        var raw = Repo.GuestArtefact(name + ".img");
        var qed = Repo.GuestArtefact(name + ".qed");
        var check = HostTool.Run("qemu-img", "qemu-utils", "check", "-f", "qed", qed);
        Assert.That(check.Status, Is.EqualTo(0), check.Output);
        var compare = HostTool.Run("qemu-img", "qemu-utils", "compare", "-f", "raw", "-F", "qed", raw, qed);
        Assert.That(compare.Status, Is.EqualTo(0), $"{qed} differs from {raw}:\n{compare.Output}");
        Assert.That(compare.Output, Does.Contain("Images are identical"));
    }

    [Test]
    public void RootFilesystem_IsCleanExt4_WithBusyboxAndTheProjectsInit()
    {
        var raw = Repo.GuestArtefact("rootfs.img");
        var fsck = HostTool.Run("e2fsck", "e2fsprogs", "-fn", raw);
        Assert.That(fsck.Status, Is.EqualTo(0), fsck.Output);
        // debugfs "stat" shows each inode's type; "cat" prints a file's bytes.
        var busybox = HostTool.Run("debugfs", "e2fsprogs", "-R", "stat /bin/busybox", raw);
        Assert.That(busybox.Output, Does.Match(@"Type: regular\s+Mode:\s+0755"), busybox.Output);
        var sh = HostTool.Run("debugfs", "e2fsprogs", "-R", "stat /bin/sh", raw);
        Assert.That(sh.Output, Does.Contain("Type: symlink").And.Contain("Fast link dest: \"/bin/busybox\""), sh.Output);
        var init = HostTool.Run("debugfs", "e2fsprogs", "-R", "cat /sbin/init", raw);
        var ours = File.ReadAllText(Path.Combine(Repo.Root, "guest-images", "rootfs", "sbin", "init"));
        Assert.That(init.Output, Does.StartWith(ours), "/sbin/init is the project's script, not busybox's applet");
    }

    [Test]
    public void BootDisk_HasSyslinuxMbr_AndTheRecipesPartitions()
    {
        var raw = Repo.GuestArtefact("boot-disk.img");
        var sector0 = new byte[512];
        using (var f = File.OpenRead(raw)) f.ReadExactly(sector0);
        var mbrCode = File.ReadAllBytes("/usr/lib/syslinux/mbr/mbr.bin");
        Assert.That(sector0[..440], Is.EqualTo(mbrCode[..440]), "boot code from syslinux's mbr.bin");
        Assert.That(sector0[510..], Is.EqualTo(new byte[] { 0x55, 0xAA }), "MBR signature");

        var dump = HostTool.Run("sfdisk", "fdisk", "--dump", raw);
        Assert.That(dump.Status, Is.EqualTo(0), dump.Output);
        var parts = Regex.Matches(dump.Output, @"start=\s*(\d+), size=\s*(\d+), type=(\w+)(, bootable)?")
            .Select(m => (Start: long.Parse(m.Groups[1].Value), Size: long.Parse(m.Groups[2].Value), Type: m.Groups[3].Value, Boot: m.Groups[4].Success))
            .ToArray();
        Assert.That(parts, Is.EqualTo(new[] { (2048L, 32768L, "c", true), (34816L, 262144L - 34816L, "83", false) }), dump.Output);

        // The FAT partition holds SYSLINUX (ldlinux.sys is hidden: -a), the kernel and its configuration.
        var dir = HostTool.Run("mdir", "mtools", "-a", "-b", "-i", $"{raw}@@{2048 * 512}", "::");
        Assert.That(dir.Output.ToLowerInvariant(), Does.Contain("ldlinux.sys").And.Contain("bzimage").And.Contain("syslinux.cfg"), dir.Output);
    }
}
