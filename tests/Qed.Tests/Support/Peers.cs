using System.Diagnostics;

namespace Qed.Tests.Support;

/// <summary>Result of running a program: exit code and what it printed.</summary>
public sealed record RunResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>
/// Runs the real peers (qemu-img, qemu-io) found on PATH. A missing peer fails the test with a clear
/// message: the tests compare against QEMU and mean nothing without it.
/// </summary>
public static class Peers
{
    public static RunResult QemuImg(params string[] args) => Run("qemu-img", args);
    public static RunResult QemuIo(params string[] args) => Run("qemu-io", args);

    /// <summary>qemu-img that must succeed; returns its stdout.</summary>
    public static string QemuImgOk(params string[] args)
    {
        var r = QemuImg(args);
        Assert.That(r.ExitCode, Is.EqualTo(0), $"qemu-img {string.Join(' ', args)} failed:\n{r}");
        return r.Stdout;
    }

    /// <summary>qemu-io that must succeed and report no failed command.</summary>
    public static void QemuIoOk(params string[] args)
    {
        var r = QemuIo(args);
        Assert.That(r.ExitCode, Is.EqualTo(0), $"qemu-io {string.Join(' ', args)} failed:\n{r}");
        Assert.That(r.Stdout + r.Stderr, Does.Not.Contain("failed").And.Not.Contain("error"), $"qemu-io reported a failure:\n{r}");
    }

    public static string Find(string program)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        Assert.Fail($"'{program}' is not installed or not on PATH; these tests compare against QEMU's tools " +
                    "(Debian package qemu-utils; 'make test' installs it)");
        return null!;
    }

    public static RunResult Run(string program, IEnumerable<string> args, string? stdin = null, int timeoutMs = 120_000) =>
        RunPath(Find(program), args, stdin, timeoutMs);

    public static RunResult RunPath(string program, IEnumerable<string> args, string? stdin = null, int timeoutMs = 120_000)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(true);
            Assert.Fail($"{program} {string.Join(' ', args)} did not finish in {timeoutMs / 1000} s");
        }
        return new RunResult(p.ExitCode, stdout.Result, stderr.Result);
    }
}
