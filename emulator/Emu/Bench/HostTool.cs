using System.Diagnostics;

namespace Emu.Bench;

/// <summary>What a host program printed, its exit status, and how long it ran.</summary>
internal sealed record ToolResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed, bool TimedOut);

/// <summary>Runs the peers an experiment needs (qemu-system-i386, qemu-img, mke2fs, e2fsck).</summary>
internal static class HostTool
{
    /// <summary>The full path of a program on PATH, or a <see cref="BenchException"/> naming its Debian package.</summary>
    public static string Find(string program, string package)
    {
        if (program.Contains('/'))
        {
            if (File.Exists(program)) return program;
            throw new BenchException($"'{program}' does not exist");
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        throw new BenchException($"'{program}' is not installed or not on PATH (Debian package: {package}; 'make deps' installs it)");
    }

    /// <summary>Runs a program to its end (killing it after <paramref name="timeout"/>); stdout can also go to a file.</summary>
    public static ToolResult Run(string program, IEnumerable<string> args, TimeSpan timeout, string? stdoutCopy = null,
        Action<string>? onLine = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var watch = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new BenchException($"could not start {program}");
        var stdout = new System.Text.StringBuilder();
        var stderr = new System.Text.StringBuilder();
        using var copy = stdoutCopy is null ? null : new StreamWriter(stdoutCopy) { AutoFlush = true };
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.Append(e.Data).Append('\n');
            copy?.WriteLine(e.Data);
            onLine?.Invoke(e.Data);
        };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (stderr) stderr.Append(e.Data).Append('\n');
        };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        bool timedOut = !p.WaitForExit(timeout);
        if (timedOut)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
        }
        p.WaitForExit();        // drains the asynchronous readers
        watch.Stop();
        lock (stdout) lock (stderr)
            return new ToolResult(timedOut ? -1 : p.ExitCode, stdout.ToString(), stderr.ToString(), watch.Elapsed, timedOut);
    }
}

/// <summary>An experiment that cannot run as asked: one line for the user.</summary>
internal sealed class BenchException(string message) : Exception(message);
