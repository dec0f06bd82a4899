using System.Security.Cryptography;

namespace Guest.Tests;

/// <summary>
/// The main job, guest-images/run.sh (make run), as it runs without a terminal: the demo session boots from a
/// fresh copy of the cached disk, powers off, and the run ends successfully; the cached image is untouched.
/// </summary>
[TestFixtureSource(typeof(GuestEmulator), nameof(GuestEmulator.Selected))]
public sealed class RunScriptTests(GuestEmulator emulator) : GuestTestBase(emulator)
{
    [Test]
    public void RunScript_WithoutATerminal_PlaysTheDemo_AndLeavesTheCachedImagePristine()
    {
        var cached = Repo.GuestArtefact("rootfs.qed");
        Repo.GuestArtefact("bzImage");
        var before = SHA256.HashData(File.ReadAllBytes(cached));

        var run = Track(SerialConsole.Start("bash", [Path.Combine(Repo.Root, "guest-images", "run.sh")], WorkDir,
            new Dictionary<string, string> { ["EMU"] = Emulator.Program }));
        run.CloseInput();
        run.WaitFor(@"GUEST-UP: userspace is running \(mode=demo", BootTimeout);
        run.WaitFor(@"(?m)^[0-9a-f]{32}\s+/root/demo\.bin", BootTimeout, "the demo's md5sum line");
        run.WaitFor("GUEST-DEMO: done", BootTimeout);
        run.WaitFor("run: the guest powered off", ExitTimeout);
        Assert.That(run.WaitForExit(ExitTimeout), Is.EqualTo(0), run.Transcript);

        Assert.That(SHA256.HashData(File.ReadAllBytes(cached)), Is.EqualTo(before), "the cached rootfs.qed changed");
        AssertQemuImgCheckClean(Path.Combine(Repo.GuestBuild, "rootfs-run.qed"));
    }
}
