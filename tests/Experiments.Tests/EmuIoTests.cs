using System.Text.RegularExpressions;
using Experiments.Tests.Support;

namespace Experiments.Tests;

/// <summary>
/// qemu-io command scripts run under qemu-io and under emu-io (bin/emu-io) on copies of the same image: the
/// printed lines must be the same (only the timing numbers of the report lines are normalised, and the
/// program's own name where it prefixes a message or the prompt), the exit status the same, and the virtual
/// disks left behind identical (qemu-img compare), with emu-io's QED image passing qemu-img check.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class EmuIoTests
{
    public sealed record Script(string Name, string Image, string[] Commands)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<Script> Scripts() =>
    [
        new("patterns", "qed64k",
        [
            "write -P 0xab 0 4k", "read -P 0xab 0 4k", "read -P 0xac 0 4k", "read -v 4000 200",
            "write -P 0x11 100000 70000", "read -P 0x11 -s 4096 -l 1000 98000 8000",
            "write -z 64k 128k", "write -z 5000 3000", "read -P 0 5000 3000", "map", "alloc 0 1M", "alloc 15M 2M",
            "length", "discard 0 4k", "flush", "read -q -P 0xab 0 512", "read -C 0 512", "write -C 1M 512",
            "w -P 0x22 2M 1k", "r -P 0x22 2M 1k",
        ]),
        new("aio", "qed64k",
        [
            "aio_write -P 1 0 64k", "aio_write -P 2 1M 4k", "aio_write -z 2M 128k", "aio_flush",
            "aio_read -P 1 0 64k", "aio_flush", "aio_read -v -P 2 1M 64", "aio_flush",
            "aio_read -P 3 1M 4k", "aio_flush", "map", "aio_write -q 3M 4k", "aio_flush", "read -P 0xcd 3M 4k",
            "aio_write -P 4 4M 512 512 1k", "aio_flush", "read -P 4 4M 2k",
        ]),
        new("errors", "qed64k",
        [
            "read 0", "write 0", "map 1", "read -Z 0 1", "write -P 300 0 512", "write -P x 0 512",
            "write -z -P 1 0 512", "read 0 x", "read 0 3G", "read 16M 512", "write 16M 512",
            "read -P 1 -s 600 0 512", "read -l 5 0 512", "aio_write -z 0 512 512", "write -n 0 512", "bogus 1 2",
            "help map", "read 1.5 1", "write 0x10 16", "write 0x1k 16", "read -p 0 512", "read -P 010 0 16", "discard 0 3G",
            "aio_read 0", "aio_write -u 0 512", "flush now",
        ]),
        new("overlay", "overlay",
        [
            "read -P 0x55 0 64k", "write -P 0x66 4k 4k", "read -P 0x55 0 4k", "read -P 0x66 4k 4k", "read -P 0x55 8k 56k",
            "map", "write -z 128k 64k", "read -P 0 128k 64k", "map", "write -z 200k 1000", "read -v 204k 32",
            "read -P 0 6M 4k", "write -P 0x77 4M-4k 8k", "map", "alloc 0 4M",
        ]),
        new("clusters4k", "qed4k",
        [
            "write -P 7 0 1M", "write -z 3M 2M", "write -P 8 4190000 20000", "map", "read -P 8 4190000 20000",
            "alloc 3M 2M", "write -z 1M 8k", "map", "read -P 0 3M 2M", "read -P 7 0 1M",
        ]),
        new("raw", "raw",
        [
            "write -P 9 64k 4k", "map", "write -z 0 1M", "read -P 0 0 1M", "alloc 0 4M", "length", "read -P 0 4M-512 512",
        ]),
    ];

    /// <summary>The report lines' timing numbers: "4 KiB, 1 ops; 00.00 sec (x/sec and y ops/sec)" and -C's CSV fields.</summary>
    internal static string Normalise(string text, string program) =>
        Regex.Replace(
            Regex.Replace(
                Regex.Replace(text, @"^(.*, \d+ ops; ).*$", "${1}TIME", RegexOptions.Multiline),
                @"^(\d+,\d+),[0-9:.]+,(?:[0-9.]+|inf),(?:[0-9.]+|inf)$", "${1},TIME", RegexOptions.Multiline),
            "^" + Regex.Escape(program) + @"(: |> )", "PROGRAM$1", RegexOptions.Multiline).Replace(program + "> ", "PROGRAM> ");

    private static (string Format, string File) MakeImage(TestDir dir, string kind, string name)
    {
        switch (kind)
        {
            case "qed64k":
                Tool.QemuImgOk("create", "-f", "qed", dir[name + ".qed"], "16M");
                return ("qed", dir[name + ".qed"]);
            case "qed4k":
                Tool.QemuImgOk("create", "-f", "qed", "-o", "cluster_size=4096,table_size=2", dir[name + ".qed"], "16M");
                return ("qed", dir[name + ".qed"]);
            case "overlay":
                if (!File.Exists(dir["base.raw"]))
                {
                    File.WriteAllBytes(dir["base.raw"], Enumerable.Repeat((byte)0x55, 4 << 20).ToArray());
                }
                Tool.QemuImgOk("create", "-f", "qed", "-b", "base.raw", "-F", "raw", dir[name + ".qed"], "8M");
                return ("qed", dir[name + ".qed"]);
            case "raw":
                File.WriteAllBytes(dir[name + ".raw"], new byte[4 << 20]);
                return ("raw", dir[name + ".raw"]);
            default:
                throw new ArgumentException(kind);
        }
    }

    private static void AssertSameDisks(string format, string qemuFile, string emuFile)
    {
        var cmp = Tool.QemuImg("compare", "-f", format, "-F", format, qemuFile, emuFile);
        Assert.That(cmp.ExitCode, Is.EqualTo(0), $"the virtual disks differ:\n{cmp}");
        if (format == "qed") Assert.That(Tool.QemuImg("check", emuFile).ExitCode, Is.EqualTo(0), "qemu-img check of emu-io's image");
    }

    [TestCaseSource(nameof(Scripts))]
    public void ScriptPrintsWhatQemuIoPrints(Script script)
    {
        using var dir = new TestDir();
        var (format, qemuFile) = MakeImage(dir, script.Image, "qemu");
        var (_, emuFile) = MakeImage(dir, script.Image, "emu");
        var args = new List<string> { "-f", format };
        foreach (var c in script.Commands) args.AddRange(["-c", c]);

        var qemu = Tool.Run(Tool.Find("qemu-io", "qemu-utils"), [.. args, qemuFile]);
        var emu = Tool.Run(Repo.Tool("emu-io"), [.. args, emuFile]);

        Assert.That(qemu.Stdout, Does.Contain("bytes at offset").Or.Contain("allocated"), $"qemu-io ran the script:\n{qemu}");
        Assert.That(Normalise(emu.Stdout, "emu-io"), Is.EqualTo(Normalise(qemu.Stdout, "qemu-io")), "stdout");
        Assert.That(Normalise(emu.Stderr, "emu-io"), Is.EqualTo(Normalise(qemu.Stderr, "qemu-io")), "stderr");
        Assert.That(emu.ExitCode, Is.EqualTo(qemu.ExitCode), "exit status");
        AssertSameDisks(format, qemuFile, emuFile);
    }

    /// <summary>A script on stdin: the prompt is printed before every command and at the end, as qemu-io does.</summary>
    [Test]
    public void ScriptFromStdinPrintsWhatQemuIoPrints()
    {
        using var dir = new TestDir();
        var (_, qemuFile) = MakeImage(dir, "qed64k", "qemu");
        var (_, emuFile) = MakeImage(dir, "qed64k", "emu");
        string script = "write -P 7 0 512\nread -P 7 0 512\n\nbogus\nwrite -z 64k 64k\nmap\nquit\nread 0 1\n";

        var qemu = Tool.Run(Tool.Find("qemu-io", "qemu-utils"), ["-f", "qed", qemuFile], stdin: script);
        var emu = Tool.Run(Repo.Tool("emu-io"), ["-f", "qed", emuFile], stdin: script);

        Assert.That(qemu.Stdout, Does.StartWith("qemu-io> "), $"qemu-io read the script from stdin:\n{qemu}");
        Assert.That(Normalise(emu.Stdout, "emu-io"), Is.EqualTo(Normalise(qemu.Stdout, "qemu-io")), "stdout");
        Assert.That(Normalise(emu.Stderr, "emu-io"), Is.EqualTo(Normalise(qemu.Stderr, "qemu-io")), "stderr");
        Assert.That(emu.ExitCode, Is.EqualTo(qemu.ExitCode), "exit status");
        AssertSameDisks("qed", qemuFile, emuFile);
    }

    /// <summary>Errors before any command: one line and status 1, as qemu-io.</summary>
    [Test]
    public void UnusableImagesAndOptionsGiveOneLineAndStatusOne()
    {
        using var dir = new TestDir();
        var missing = Tool.Run(Repo.Tool("emu-io"), ["-f", "qed", "-c", "read 0 1", dir["nothing.qed"]]);
        Assert.That((missing.ExitCode, missing.Stdout), Is.EqualTo((1, "")));
        Assert.That(missing.Stderr, Is.EqualTo($"emu-io: can't open device {dir["nothing.qed"]}: Could not open '{dir["nothing.qed"]}': No such file or directory\n"));

        File.WriteAllBytes(dir["junk.qed"], new byte[4096]);
        var junk = Tool.Run(Repo.Tool("emu-io"), ["-f", "qed", "-c", "read 0 1", dir["junk.qed"]]);
        Assert.That(junk.ExitCode, Is.EqualTo(1));
        Assert.That(junk.Stderr.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1).And.Some.Contains("can't open device"));

        var (_, image) = MakeImage(dir, "qed64k", "ro");
        var ro = Tool.Run(Repo.Tool("emu-io"), ["-r", "-f", "qed", "-c", "write 0 512", image]);
        var qro = Tool.Run(Tool.Find("qemu-io", "qemu-utils"), ["-r", "-f", "qed", "-c", "write 0 512", image]);
        Assert.That((ro.ExitCode, Normalise(ro.Stderr, "emu-io")), Is.EqualTo((qro.ExitCode, Normalise(qro.Stderr, "qemu-io"))));

        var bad = Tool.Run(Repo.Tool("emu-io"), ["--no-such-option", image]);
        Assert.That(bad.ExitCode, Is.EqualTo(1));
        Assert.That(bad.Stderr, Does.StartWith("emu-io: ").And.Not.Contains("   at "));
    }
}
