using System.Diagnostics;
using System.Text;
using Cpu.Tests.Support;
using Cpu.Tests.UserMode;
using NUnit.Framework;

namespace Cpu.Tests;

/// <summary>
/// Debian's static busybox for i386 run as a user-mode process on the emulated CPU (see
/// <see cref="LinuxProcess"/>): each applet must print exactly what the same binary prints when this x86
/// host executes it natively, with the same arguments, input and working directory.
/// </summary>
public class BusyboxTests
{
    private static string? busybox;
    private static string? sandbox;

    private static string Busybox()
    {
        if (busybox != null) return busybox;
        string? dir = TestContext.CurrentContext.TestDirectory;
        while (dir != null && !File.Exists(Path.Combine(dir, "guest-images", "fetch-busybox.sh"))) dir = Path.GetDirectoryName(dir);
        if (dir == null) Assert.Fail("guest-images/fetch-busybox.sh not found above the test directory");
        var (code, stdout, stderr) = ExternalTool.Run(Path.Combine(dir!, "guest-images", "fetch-busybox.sh"), Array.Empty<string>());
        string path = stdout.Trim().Split('\n').Last();
        if (code != 0 || !File.Exists(path))
            Assert.Fail($"guest-images/fetch-busybox.sh could not provide busybox-static for i386 (exit {code}): {stderr.Trim()}");
        return busybox = path;
    }

    /// <summary>A sandbox with input files, the working directory of both runs.</summary>
    private static string Sandbox()
    {
        if (sandbox != null) return sandbox;
        string dir = ExternalTool.TempDir("busybox-root");
        File.WriteAllBytes(Path.Combine(dir, "data.bin"), TestData(200_000, 1));
        File.WriteAllText(Path.Combine(dir, "words.txt"), Words(3000, 2));
        return sandbox = dir;
    }

    /// <summary>Compressible but not trivial bytes: text-like runs mixed with noise.</summary>
    private static byte[] TestData(int size, int seed)
    {
        var rng = new Random(seed);
        var b = new byte[size];
        for (int k = 0; k < size; k++)
            b[k] = rng.Next(4) == 0 ? (byte)rng.Next(256) : (byte)("the quick brown fox jumps over the lazy dog "[k % 44]);
        return b;
    }

    private static string Words(int count, int seed)
    {
        var rng = new Random(seed);
        var sb = new StringBuilder();
        for (int k = 0; k < count; k++)
        {
            int len = rng.Next(1, 12);
            for (int j = 0; j < len; j++) sb.Append((char)('a' + rng.Next(26)));
            sb.Append(' ').Append(rng.Next(100000)).Append('\n');
        }
        return sb.ToString();
    }

    private sealed record Outcome(byte[] Stdout, string Stderr, int ExitCode);

    private static Outcome RunNative(string[] args, byte[] stdin)
    {
        var psi = new ProcessStartInfo(Busybox())
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false, WorkingDirectory = Sandbox(),
        };
        psi.Environment.Clear();
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"this host cannot run the i386 busybox natively for the reference output ({e.Message}); " +
                        "an x86 Linux host with 32-bit program support is required");
            throw;
        }
        using var proc = p;
        var outTask = Task.Run(() => { var ms = new MemoryStream(); p.StandardOutput.BaseStream.CopyTo(ms); return ms.ToArray(); });
        var errTask = p.StandardError.ReadToEndAsync();
        p.StandardInput.BaseStream.Write(stdin);
        p.StandardInput.Close();
        p.WaitForExit();
        return new Outcome(outTask.Result, errTask.Result, p.ExitCode);
    }

    private static Outcome RunEmulated(string[] args, byte[] stdin, out LinuxProcess process)
    {
        var argv = new[] { "busybox" }.Concat(args).ToArray();
        process = new LinuxProcess(File.ReadAllBytes(Busybox()), argv, stdin, Sandbox());
        bool finished = process.Run(3_000_000_000);
        Assert.That(finished, Is.True, "the process did not exit within 3e9 instructions");
        Assert.That(process.Crash, Is.Null, process.Crash);
        return new Outcome(process.Stdout.ToArray(), Encoding.UTF8.GetString(process.Stderr.ToArray()), process.ExitCode!.Value);
    }

    private static byte[] SameAsNative(string[] args, byte[] stdin)
    {
        var native = RunNative(args, stdin);
        var ours = RunEmulated(args, stdin, out var proc);
        TestContext.Out.WriteLine($"busybox {string.Join(' ', args)}: {proc.Cpu.InstructionCount:N0} instructions, " +
                                  $"{proc.Syscalls.Count} system calls; unimplemented: [{string.Join(", ", proc.Syscalls.Unknown)}]");
        Assert.Multiple(() =>
        {
            Assert.That(ours.ExitCode, Is.EqualTo(native.ExitCode), "exit status; stderr: " + ours.Stderr);
            Assert.That(Encoding.Latin1.GetString(ours.Stdout), Is.EqualTo(Encoding.Latin1.GetString(native.Stdout)), "standard output");
            Assert.That(ours.Stderr, Is.EqualTo(native.Stderr), "standard error");
        });
        Assert.That(native.Stdout, Is.Not.Empty, "the applet produced output");
        return ours.Stdout;
    }

    [Test]
    public void Echo() => SameAsNative(new[] { "echo", "hello,", "world" }, Array.Empty<byte>());

    [Test]
    public void Md5sumOfStdin() => SameAsNative(new[] { "md5sum" }, TestData(300_000, 3));

    [Test]
    public void Sha256sumOfAFile() => SameAsNative(new[] { "sha256sum", "data.bin" }, Array.Empty<byte>());

    [Test]
    public void SortNumericallyAndByWord()
    {
        byte[] words = Encoding.ASCII.GetBytes(Words(2000, 4));
        SameAsNative(new[] { "sort" }, words);
        SameAsNative(new[] { "sort", "-k2", "-n", "-r", "words.txt" }, Array.Empty<byte>());
    }

    [Test]
    public void GzipThenGunzipRoundTrips()
    {
        byte[] input = TestData(150_000, 5);
        byte[] compressed = SameAsNative(new[] { "gzip", "-c", "-9" }, input);
        byte[] restored = SameAsNative(new[] { "gunzip", "-c" }, compressed);
        Assert.That(restored, Is.EqualTo(input));
    }

    [Test]
    public void AwkArithmetic()
    {
        // Debian's busybox awk has no math library ("Math support is not compiled in"): plain double
        // arithmetic and printf's conversions, which run on the x87 through glibc.
        const string program =
            "BEGIN { s = 0; p = 1; for (i = 1; i <= 3000; i++) { s += 1 / i; p = p * 1.0001 + i % 7; q += (i * 7919) % 1013 / 3 } " +
            "printf \"%.15g %.12e %.10f\\n\", s, p, q; x = 2147483647; " +
            "printf \"%d %d %.3f %g %g %.17g\\n\", x + 17, -x * 3, 1e300 * 1e10, 0.1 + 0.2, 1 / 3, 2 / 3; " +
            "print int(-7.9), -7 % 3, 7.5 % 2, 1e-310 * 1e-10, 123456789 * 987654321 }";
        SameAsNative(new[] { "awk", program }, Array.Empty<byte>());
    }

    [Test]
    public void WordCountAndTranslate()
    {
        SameAsNative(new[] { "wc", "words.txt" }, Array.Empty<byte>());
        SameAsNative(new[] { "tr", "a-z", "A-Z" }, Encoding.ASCII.GetBytes(Words(500, 6)));
    }
}
