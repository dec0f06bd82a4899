using System.Security.Cryptography;
using NUnit.Framework.Interfaces;

namespace Guest.Tests;

/// <summary>
/// Common set-up of the whole-guest tests: a private work folder per test (each test boots its own copy of an
/// image), the consoles it started (killed at the end; their output printed when the test fails), and the
/// host-side checks of a disk image after the guest ran (qemu-img check, e2fsck, reading a file back).
/// </summary>
public abstract class GuestTestBase(GuestEmulator emulator)
{
    protected GuestEmulator Emulator { get; } = emulator;
    protected string WorkDir { get; private set; } = "";
    readonly List<SerialConsole> _consoles = [];

    protected static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(40);
    protected static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(20);

    [SetUp]
    public void CreateWorkDir()
    {
        WorkDir = Path.Combine(Path.GetTempPath(), "guest-tests", $"{TestContext.CurrentContext.Test.MethodName}-{Guid.NewGuid():N}"[..48]);
        Directory.CreateDirectory(WorkDir);
    }

    [TearDown]
    public void CleanUp()
    {
        bool failed = TestContext.CurrentContext.Result.Outcome.Status != TestStatus.Passed;
        foreach (var c in _consoles)
        {
            if (failed)
                TestContext.Out.WriteLine($"=== console of: {c.CommandLine}\n{c.Transcript}\n=== end of console");
            c.Dispose();
        }
        _consoles.Clear();
        try { Directory.Delete(WorkDir, recursive: true); } catch (IOException) { }
    }

    /// <summary>A private copy of a built image in this test's folder.</summary>
    protected string CopyOf(string artefact)
    {
        var source = Repo.GuestArtefact(artefact);
        var copy = Path.Combine(WorkDir, artefact);
        File.Copy(source, copy);
        return copy;
    }

    /// <summary>Starts the emulator with the given machine flags and -m 128 -nographic in front.</summary>
    protected SerialConsole Boot(bool noReboot, params string[] machine)
    {
        string[] common = noReboot ? ["-m", "128", "-nographic", "-no-reboot"] : ["-m", "128", "-nographic"];
        return Track(SerialConsole.Start(Emulator.Program, Emulator.Arguments([.. common, .. machine]), WorkDir));
    }

    /// <summary>Kills the console's process at the end of the test and prints its output if the test failed.</summary>
    protected SerialConsole Track(SerialConsole console)
    {
        _consoles.Add(console);
        return console;
    }

    /// <summary>Direct kernel boot of build/bzImage with root on the whole virtio disk.</summary>
    protected SerialConsole BootKernel(string qedDisk, string mode, bool noReboot = true, params string[] more) =>
        Boot(noReboot,
            ["-kernel", Repo.GuestArtefact("bzImage"),
             "-append", $"console=ttyS0 root=/dev/vda rw panic=-1 guest.mode={mode}",
             "-drive", $"file={qedDisk},format=qed,if=virtio", .. more]);

    /// <summary>Runs bin/emu-img (the project's image tool) and fails the test when it fails.</summary>
    protected static string EmuImg(params string[] args)
    {
        var emuImg = Path.Combine(Repo.Root, "bin", "emu-img");
        if (!File.Exists(emuImg))
            Assert.Fail($"{emuImg} is missing: build it with 'make build'");
        var r = HostTool.Run(emuImg, "(make build)", args);
        Assert.That(r.Status, Is.EqualTo(0), $"emu-img {string.Join(' ', args)} failed:\n{r.Output}");
        return r.Output;
    }

    /// <summary>
    /// The guest's root filesystem is ext4 on the block device whose sysfs "dev" file is given: /proc/mounts
    /// calls it /dev/root, so the device number of "/" is compared with the disk's major:minor instead.
    /// </summary>
    protected static void AssertRootIsExt4On(GuestShell shell, string sysfsDev)
    {
        var lines = shell.Check($"cat {sysfsDev}; stat -c %d /; awk '$2 == \"/\" {{ print $3 }}' /proc/mounts | tail -1")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Length.EqualTo(3), string.Join("|", lines));
        var majorMinor = lines[0].Split(':').Select(int.Parse).ToArray();
        // Linux's new_encode_dev for minors below 256: major << 8 | minor.
        Assert.That(int.Parse(lines[1]), Is.EqualTo(majorMinor[0] << 8 | majorMinor[1]), $"device of / vs {sysfsDev}");
        Assert.That(lines[2], Is.EqualTo("ext4"));
    }

    /// <summary>qemu-img check of a QED image must report no errors (its exit status 0, and its words).</summary>
    protected static void AssertQemuImgCheckClean(string qed)
    {
        var r = HostTool.Run("qemu-img", "qemu-utils", "check", "-f", "qed", qed);
        Assert.That(r.Status, Is.EqualTo(0), $"qemu-img check {qed} failed:\n{r.Output}");
        Assert.That(r.Output, Does.Contain("No errors were found"), r.Output);
    }

    /// <summary>
    /// The guest-visible bytes of a QED image (and its backing chain) as a raw file, converted by the project's
    /// own tool (bin/emu-img convert -O raw); qemu-img compare then confirms the raw file holds what QEMU reads
    /// from the image, so a conversion bug cannot hide a broken image.
    /// </summary>
    protected string ToRaw(string qed)
    {
        var raw = Path.ChangeExtension(qed, ".raw");
        EmuImg("convert", "-f", "qed", "-O", "raw", qed, raw);
        var compare = HostTool.Run("qemu-img", "qemu-utils", "compare", "-f", "qed", "-F", "raw", qed, raw);
        Assert.That(compare.Status, Is.EqualTo(0), $"emu-img's raw copy of {qed} differs from what qemu-img reads:\n{compare.Output}");
        return raw;
    }

    /// <summary>
    /// The ext4 filesystem was left clean: e2fsck -fn (forced, read-only) passes without declining a single fix,
    /// and the superblock says clean with no journal to replay. (e2fsck -n alone exits 0 on a filesystem whose
    /// journal still needs recovery, having skipped it, so its status is not enough.)
    /// </summary>
    protected static void AssertExt4Clean(string rawFilesystem)
    {
        var r = HostTool.Run("e2fsck", "e2fsprogs", "-fn", rawFilesystem);
        Assert.That(r.Status, Is.EqualTo(0), $"e2fsck -fn {rawFilesystem} found problems:\n{r.Output}");
        Assert.That(r.Output, Does.Not.Contain("? no").And.Not.Contain("skipping journal recovery"),
            $"e2fsck -fn {rawFilesystem} declined fixes:\n{r.Output}");
        var header = HostTool.Run("dumpe2fs", "e2fsprogs", "-h", rawFilesystem);
        Assert.That(header.Status, Is.EqualTo(0), header.Output);
        Assert.That(header.Output, Does.Match(@"(?m)^Filesystem state:\s+clean\s*$"), header.Output);
        Assert.That(header.Output, Does.Not.Contain("needs_recovery"), "the journal was left needing recovery");
    }

    /// <summary>Reads one file out of an ext4 image with debugfs (no mounting) and returns its bytes.</summary>
    protected byte[] ReadFromExt4(string rawFilesystem, string guestPath)
    {
        var dumped = Path.Combine(WorkDir, "dumped-" + Path.GetFileName(guestPath));
        var r = HostTool.Run("debugfs", "e2fsprogs", "-R", $"dump {guestPath} {dumped}", rawFilesystem);
        Assert.That(File.Exists(dumped), $"debugfs could not read {guestPath} from {rawFilesystem}:\n{r.Output}");
        return File.ReadAllBytes(dumped);
    }

    protected static string Md5Hex(byte[] data) => Convert.ToHexStringLower(MD5.HashData(data));

    /// <summary>The first "HASH  PATH" line md5sum printed for <paramref name="path"/>.</summary>
    protected static string ParseMd5sum(string output, string path)
    {
        var m = System.Text.RegularExpressions.Regex.Match(output, $@"(?m)^([0-9a-f]{{32}})\s+{System.Text.RegularExpressions.Regex.Escape(path)}\s*$");
        Assert.That(m.Success, $"no md5sum line for {path} in:\n{output}");
        return m.Groups[1].Value;
    }
}
