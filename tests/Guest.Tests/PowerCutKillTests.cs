using System.Text.RegularExpressions;

namespace Guest.Tests;

/// <summary>
/// Issue 7, must-show 2: this project's emulator (bin/emu) is killed with SIGKILL while the guest allocates
/// clusters as fast as it can on a QED disk (/dev/vdb, ext4). The image then reopens: `emu-img check -r all`
/// repairs it and `qemu-img check` finds nothing; the guest boots again, replays its ext4 journal when it
/// mounts vdb, finds every file it wrote before its last completed sync, and powers off; `e2fsck -fn` on
/// the raw conversion passes. Always this project's emulator: the test is about its crash behaviour.
/// </summary>
public sealed class PowerCutKillTests() : GuestTestBase(GuestEmulator.Emu)
{
    const int SigKill = 9;

    [Test]
    public void Sigkill_DuringAllocatingWrites_ImageRepairs_JournalReplays_FilesystemChecksClean()
    {
        Assert.That(File.Exists(Emulator.Program), $"{Emulator.Program} is missing: run make build");
        var emuImg = Path.Combine(Repo.Root, "bin", "emu-img");
        Assert.That(File.Exists(emuImg), $"{emuImg} is missing: run make build");

        var root = CopyOf("rootfs.qed");
        var data = MakeExt4Qed("data", 256);

        // ---- first boot: synced files, then allocating writes until the process is killed ----
        var console = BootTwoDisks(root, data);
        var shell = new GuestShell(console);
        shell.WaitUntilReady(BootTimeout);
        shell.Check("mount -t ext4 /dev/vdb /mnt && mkdir -p /mnt/w && dd if=/dev/urandom of=/tmp/seed bs=64k count=8 2>/dev/null");
        // Written and synced: the guest's flush completed, so these must read back after the crash.
        shell.Check("for i in 0 1 2 3 4 5 6 7; do (echo synced-$i; cat /tmp/seed) > /mnt/w/synced$i; done; sync", TimeSpan.FromSeconds(60));
        var synced = shell.Check("(cd /mnt/w && md5sum synced*)").Replace("\r", "").Trim();
        Assert.That(synced.Split('\n'), Has.Length.EqualTo(8), synced);

        // Files of 64-512 KiB in 16 folders, every tenth one synced, older ones deleted now and then (freed
        // blocks are reused: new extents, bitmap and journal traffic). The progress marker only appears in
        // the output: the echo of the typed line shows "$i", never a number.
        console.SendLine(
            "i=0; while true; do d=/mnt/w/d$((i % 16)); mkdir -p $d; " +
            "dd if=/tmp/seed of=$d/f$i bs=64k count=$((1 + i % 8)) 2>/dev/null; " +
            "[ $((i % 7)) = 6 ] && rm -f /mnt/w/d$(((i + 3) % 16))/f$((i - 29)); " +
            "[ $((i % 10)) = 9 ] && sync; echo WROTE-$i-; i=$((i + 1)); done");
        console.WaitFor("WROTE-60-", TimeSpan.FromSeconds(90), "60 files written by the workload");
        KillWithSigkill(data);
        Assert.That(console.WaitForExit(ExitTimeout), Is.EqualTo(128 + SigKill), "the emulator ended by SIGKILL");
        Assert.That(console.Transcript, Does.Not.Match(@"WROTE-[0-9]+-[\s\S]*GUEST-POWEROFF"), "no orderly shutdown happened");

        // ---- the images after the crash: repair, then QEMU's check ----
        foreach (var image in new[] { data, root })
        {
            var before = HostTool.Run("qemu-img", "qemu-utils", "check", "-f", "qed", image);
            TestContext.Out.WriteLine($"qemu-img check of {Path.GetFileName(image)} right after the kill (status {before.Status}):\n{before.Output}");
            var repair = HostTool.Run(emuImg, "make build", "check", "-r", "all", image);
            TestContext.Out.WriteLine($"emu-img check -r all {Path.GetFileName(image)} (status {repair.Status}):\n{repair.Output}");
            Assert.That(repair.Status, Is.EqualTo(0), $"emu-img check -r all {image}:\n{repair.Output}");
            AssertQemuImgCheckClean(image);
        }

        // ---- second boot: ext4 replays its journal on vdb, the synced files are intact ----
        console = BootTwoDisks(root, data);
        shell = new GuestShell(console);
        shell.WaitUntilReady(BootTimeout);
        shell.Check("mount -t ext4 /dev/vdb /mnt", TimeSpan.FromSeconds(60));
        var kernelLog = shell.Check("dmesg | grep 'EXT4-fs (vdb)'");
        TestContext.Out.WriteLine(kernelLog);
        Assert.That(kernelLog, Does.Match(@"EXT4-fs \(vdb\): recovery complete"), "the journal was replayed (the kill left it needing recovery)");
        Assert.That(shell.Check("(cd /mnt/w && md5sum synced*)").Replace("\r", "").Trim(), Is.EqualTo(synced),
            "files synced before the kill read back exactly");
        int files = int.Parse(shell.Check("find /mnt/w -type f | wc -l").Trim());
        Assert.That(files, Is.GreaterThan(8), "some of the workload's files survived");
        shell.Check("umount /mnt");
        console.SendLine("poweroff");
        console.WaitFor("GUEST-POWEROFF", ExitTimeout);
        Assert.That(console.WaitForExit(ExitTimeout), Is.EqualTo(GuestEmulator.PowerOffStatus));

        // ---- the filesystem on the host ----
        AssertQemuImgCheckClean(data);
        AssertExt4Clean(ToRaw(data));
    }

    /// <summary>The guest's root (vda) and a data disk (vdb), direct kernel boot.</summary>
    SerialConsole BootTwoDisks(string root, string data) =>
        Boot(noReboot: true,
            "-kernel", Repo.GuestArtefact("bzImage"),
            "-append", "console=ttyS0 root=/dev/vda rw panic=-1 guest.mode=shell",
            "-drive", $"file={root},format=qed,if=virtio",
            "-drive", $"file={data},format=qed,if=virtio");

    /// <summary>An empty ext4 (with its journal) of the given size in MiB, converted to QED by qemu-img.</summary>
    string MakeExt4Qed(string name, int mebibytes)
    {
        var raw = Path.Combine(WorkDir, name + ".img");
        using (var f = File.Create(raw)) f.SetLength((long)mebibytes << 20);
        var mkfs = HostTool.Run("mkfs.ext4", "e2fsprogs", "-q", "-F", "-L", name, raw);
        Assert.That(mkfs.Status, Is.EqualTo(0), mkfs.Output);
        var qed = Path.Combine(WorkDir, name + ".qed");
        var convert = HostTool.Run("qemu-img", "qemu-utils", "convert", "-f", "raw", "-O", "qed", raw, qed);
        Assert.That(convert.Status, Is.EqualTo(0), convert.Output);
        File.Delete(raw);
        return qed;
    }

    /// <summary>
    /// kill -KILL on the emulator process that has <paramref name="disk"/> on its command line (the
    /// console does not expose its process id; the disk's path is unique to this test's folder).
    /// </summary>
    static void KillWithSigkill(string disk)
    {
        var pids = Directory.EnumerateDirectories("/proc")
            .Select(Path.GetFileName)
            .Where(n => n!.All(char.IsAsciiDigit))
            .Where(n =>
            {
                try { return File.ReadAllText($"/proc/{n}/cmdline").Contains($"file={disk},"); }
                catch (IOException) { return false; }
                catch (UnauthorizedAccessException) { return false; }
            })
            .ToList();
        Assert.That(pids, Has.Count.EqualTo(1), $"one emulator process with {disk} on its command line");
        var kill = HostTool.Run("kill", "procps", "-KILL", pids[0]!);
        Assert.That(kill.Status, Is.EqualTo(0), kill.Output);
    }
}
