using System.Diagnostics;
using NUnit.Framework;

namespace Cpu.Tests.Support;

/// <summary>Runs the peer tools the tests use (nasm, qemu-system-i386, gcc). A missing tool fails the test
/// with a message saying which Debian package provides it; it never skips.</summary>
internal static class ExternalTool
{
    public static string Require(string name, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var p = Path.Combine(dir, name);
            if (File.Exists(p)) return p;
        }
        Assert.Fail($"'{name}' is required by this test and was not found on PATH: install the Debian package '{package}' (make test installs it)");
        return "";
    }

    public static (int exitCode, string stdout, string stderr) Run(string tool, IEnumerable<string> args,
        byte[]? stdin = null, int timeoutMs = 120_000, string? workDir = null)
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin != null,
            UseShellExecute = false,
            WorkingDirectory = workDir ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var outTask = p.StandardOutput.ReadToEndAsync();
        var errTask = p.StandardError.ReadToEndAsync();
        if (stdin != null)
        {
            p.StandardInput.BaseStream.Write(stdin);
            p.StandardInput.Close();
        }
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{Path.GetFileName(tool)} did not finish within {timeoutMs / 1000} s");
        }
        return (p.ExitCode, outTask.Result, errTask.Result);
    }

    /// <summary>A scratch directory for this test run.</summary>
    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "cpu-tests-" + Environment.ProcessId, name);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
