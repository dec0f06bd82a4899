using System.Diagnostics;

namespace Experiments.Tests.Support;

public sealed record RunResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>Runs programs: this project's tools and the real peers (a missing peer fails the test, naming its package).</summary>
public static class Tool
{
    public static string Find(string program, string package)
    {
        if (program.Contains('/')) return program;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        Assert.Fail($"'{program}' is not installed or not on PATH (Debian package {package}; 'make test' installs it)");
        return null!;
    }

    public static RunResult Run(string program, IEnumerable<string> args, string? stdin = null, int timeoutSeconds = 300)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["TERM"] = "dumb";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(true);
            Assert.Fail($"{program} {string.Join(' ', args)} did not finish in {timeoutSeconds} s");
        }
        p.WaitForExit();
        return new RunResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    public static RunResult QemuImg(params string[] args) => Run(Find("qemu-img", "qemu-utils"), args);

    public static string QemuImgOk(params string[] args)
    {
        var r = QemuImg(args);
        Assert.That(r.ExitCode, Is.EqualTo(0), $"qemu-img {string.Join(' ', args)} failed:\n{r}");
        return r.Stdout;
    }
}

/// <summary>A fresh temporary folder per test, removed afterwards.</summary>
public sealed class TestDir : IDisposable
{
    public TestDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "exp-tests-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
