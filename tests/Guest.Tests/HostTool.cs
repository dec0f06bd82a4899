using System.Diagnostics;

namespace Guest.Tests;

/// <summary>Runs a host program (qemu-img, e2fsck, debugfs) to completion and returns its status and output.</summary>
public static class HostTool
{
    public readonly record struct Result(int Status, string Output);

    public static Result Run(string program, string debianPackage, params string[] args)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        Process? p = null;
        try { p = Process.Start(info); }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"'{program}' cannot be started ({e.Message}): install the Debian package {debianPackage}");
        }
        using var process = p!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"'{program} {string.Join(' ', args)}' did not finish within 60 s");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result + stderr.Result);
    }
}
