using EmuImg;

namespace Qed.Tests.Support;

/// <summary>emu-img, called in-process through its entry point, or as the built executable.</summary>
public static class Tool
{
    public static RunResult Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = EmuImgCli.RunAsync(args, stdout, stderr).GetAwaiter().GetResult();
        return new RunResult(code, stdout.ToString(), stderr.ToString());
    }

    public static string EmuImgOk(params string[] args)
    {
        var r = Run(args);
        Assert.That(r.ExitCode, Is.EqualTo(0), $"emu-img {string.Join(' ', args)} failed:\n{r}");
        return r.Stdout;
    }

    /// <summary>
    /// The built emu-img executable: the apphost next to the test assembly (the test project references
    /// the tool, so it is built and copied with it), else the repository's bin/emu-img from 'make build'.
    /// </summary>
    public static string ExecutablePath()
    {
        string here = AppContext.BaseDirectory;
        var local = Path.Combine(here, "emu-img");
        if (File.Exists(local)) return local;
        var dir = new DirectoryInfo(here);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Emulator.sln"))) dir = dir.Parent;
        var repoBin = dir is null ? null : Path.Combine(dir.FullName, "bin", "emu-img");
        if (repoBin is not null && File.Exists(repoBin)) return repoBin;
        Assert.Fail($"the emu-img executable was not found next to the tests ({local}) nor in bin/; run 'make build'");
        return null!;
    }

    public static RunResult EmuImgProcess(params string[] args) => Peers.RunPath(ExecutablePath(), args);
}
