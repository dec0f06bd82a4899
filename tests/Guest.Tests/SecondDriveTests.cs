using System.Security.Cryptography;

namespace Guest.Tests;

/// <summary>
/// Issue 4, must-show 2: a second virtio drive (/dev/vdb) beside the root disk. The guest makes a filesystem on
/// a fresh QED image, or mounts the filesystem a QED overlay's backing file holds, copies files onto it and
/// syncs; after the run the host reads the files out of the image with e2fsprogs' debugfs (no mounting, no
/// emulator involved) and compares them with what the guest reported and with their sources on the host.
/// </summary>
[TestFixtureSource(typeof(GuestEmulator), nameof(GuestEmulator.Selected))]
public sealed class SecondDriveTests(GuestEmulator emulator) : GuestTestBase(emulator)
{
    const string Mount = "/mnt/vdb";

    [Test]
    public void FreshQedImage_GuestMakesAFilesystem_HostReadsTheFilesBack()
    {
        var root = CopyOf("rootfs.qed");
        var second = Path.Combine(WorkDir, "second.qed");
        EmuImg("create", "-q", "-f", "qed", second, "64M");

        var shell = BootWithSecondDrive(root, second);
        Assert.That(shell.Check("cat /sys/block/vdb/size").Trim(), Is.EqualTo((64L << 20 >> 9).ToString()), "vdb's size in sectors");
        shell.Check($"mke2fs -q /dev/vdb && mkdir -p {Mount} && mount /dev/vdb {Mount}", TimeSpan.FromSeconds(30));
        var guest = CopyFilesAndSync(shell);
        PowerOff(shell);

        AssertQemuImgCheckClean(second);
        var raw = ToRaw(second);
        AssertExt4Clean(raw);
        AssertFilesOnHost(raw, guest);
    }

    [Test]
    public void QedOverlay_OnABackingFileWithAFilesystem_GuestAddsFiles_BackingStaysUntouched()
    {
        // The backing file: an ext4 filesystem made on the host with two files in it, converted to QED.
        var tree = Directory.CreateDirectory(Path.Combine(WorkDir, "tree")).FullName;
        var baseData = RandomNumberGenerator.GetBytes(300_000);
        File.WriteAllBytes(Path.Combine(tree, "from-backing.bin"), baseData);
        File.WriteAllText(Path.Combine(tree, "hello.txt"), "written on the host\n");
        var baseRaw = Path.Combine(WorkDir, "base.img");
        var mkfs = HostTool.Run("mke2fs", "e2fsprogs", "-q", "-F", "-t", "ext4", "-d", tree, baseRaw, "48M");
        Assert.That(mkfs.Status, Is.EqualTo(0), mkfs.Output);
        var baseQed = Path.Combine(WorkDir, "base.qed");
        EmuImg("convert", "-f", "raw", "-O", "qed", baseRaw, baseQed);
        var overlay = Path.Combine(WorkDir, "overlay.qed");
        EmuImg("create", "-q", "-f", "qed", "-b", "base.qed", "-F", "qed", overlay);
        var backingBefore = SHA256.HashData(File.ReadAllBytes(baseQed));

        var shell = BootWithSecondDrive(CopyOf("rootfs.qed"), overlay);
        shell.Check($"mkdir -p {Mount} && mount /dev/vdb {Mount}", TimeSpan.FromSeconds(30));
        Assert.That(ParseMd5sum(shell.Check($"md5sum {Mount}/from-backing.bin"), $"{Mount}/from-backing.bin"),
            Is.EqualTo(Md5Hex(baseData)), "the backing file's data read through the overlay in the guest");
        Assert.That(shell.Check($"cat {Mount}/hello.txt"), Is.EqualTo("written on the host\n"));
        var guest = CopyFilesAndSync(shell);
        PowerOff(shell);

        Assert.That(SHA256.HashData(File.ReadAllBytes(baseQed)), Is.EqualTo(backingBefore), "the guest's writes reached the backing file");
        AssertQemuImgCheckClean(overlay);
        var raw = ToRaw(overlay);
        AssertExt4Clean(raw);
        AssertFilesOnHost(raw, guest);
        Assert.That(ReadFromExt4(raw, "/from-backing.bin"), Is.EqualTo(baseData), "the backing file's file, read through the overlay on the host");
    }

    GuestShell BootWithSecondDrive(string root, string second)
    {
        var shell = new GuestShell(BootKernel(root, "shell", more: ["-drive", $"file={second},format=qed,if=virtio"]));
        shell.WaitUntilReady(BootTimeout);
        return shell;
    }

    /// <summary>What the guest wrote: a random file (its md5sum as the guest computed it) and a copy of busybox.</summary>
    readonly record struct GuestFiles(string RandomMd5);

    GuestFiles CopyFilesAndSync(GuestShell shell)
    {
        shell.Check($"dd if=/dev/urandom of={Mount}/random.bin bs=64k count=40 && cp /bin/busybox {Mount}/busybox && echo guest-note > {Mount}/note.txt && sync",
            TimeSpan.FromSeconds(30));
        var md5 = ParseMd5sum(shell.Check($"md5sum {Mount}/random.bin"), $"{Mount}/random.bin");
        shell.Check($"umount {Mount}", TimeSpan.FromSeconds(30));
        return new GuestFiles(md5);
    }

    void PowerOff(GuestShell shell)
    {
        shell.Console.SendLine("poweroff");
        Assert.That(shell.Console.WaitForExit(ExitTimeout), Is.EqualTo(GuestEmulator.PowerOffStatus));
    }

    void AssertFilesOnHost(string raw, GuestFiles guest)
    {
        var random = ReadFromExt4(raw, "/random.bin");
        Assert.That(random, Has.Length.EqualTo(40 * 65536));
        Assert.That(Md5Hex(random), Is.EqualTo(guest.RandomMd5), "random.bin read from the image on the host");
        // The guest's /bin/busybox is the binary guest-images/build.sh put into the root filesystem.
        var busybox = File.ReadAllBytes(Path.Combine(Repo.GuestBuild, "busybox-i386", "bin", "busybox"));
        Assert.That(ReadFromExt4(raw, "/busybox"), Is.EqualTo(busybox), "the copy of /bin/busybox");
        Assert.That(System.Text.Encoding.ASCII.GetString(ReadFromExt4(raw, "/note.txt")), Is.EqualTo("guest-note\n"));
    }
}
