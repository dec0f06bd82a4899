using System.Buffers.Binary;
using Qed.Tests.Support;
using static Qed.Tests.Support.Peers;

namespace Qed.Tests;

/// <summary>
/// Must-show 5: malformed images and wrong arguments give one line on stderr naming the problem, a
/// non-zero exit and no stack trace, and the image's bytes stay as they were.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class BadInputTests
{
    /// <summary>A valid 64 MiB image (header, L1 at cluster 1, four clusters of L1) as bytes, with fields to spoil.</summary>
    public sealed class HeaderSpec
    {
        public uint Magic = QedHeader.Magic, ClusterSize = 65536, TableSize = 4, HeaderSize = 1;
        public ulong Features, Compat, Autoclear, L1 = 65536, ImageSize = 64 << 20;
        public uint BackingOffset, BackingSize;
        public string? BackingName;
        public int FileLength = 5 * 65536;
        public Action<byte[]>? Patch;

        public byte[] Build()
        {
            var b = new byte[FileLength];
            var h = new byte[64];
            BinaryPrimitives.WriteUInt32LittleEndian(h, Magic);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), ClusterSize);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), TableSize);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(12), HeaderSize);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(16), Features);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(24), Compat);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(32), Autoclear);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(40), L1);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(48), ImageSize);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(56), BackingOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(60), BackingSize);
            h.AsSpan(0, Math.Min(64, b.Length)).CopyTo(b);
            if (BackingName is not null) System.Text.Encoding.UTF8.GetBytes(BackingName).CopyTo(b, BackingOffset);
            Patch?.Invoke(b);
            return b;
        }
    }

    /// <summary>Each malformed image, the words its error must contain, and whether even info must fail (30 kinds).</summary>
    private static IEnumerable<TestCaseData> MalformedImages()
    {
        TestCaseData Case(string name, HeaderSpec spec, string expect, bool headerLevel = true) =>
            new TestCaseData(spec, expect, headerLevel).SetName("Malformed: " + name);

        yield return Case("truncated header", new HeaderSpec { FileLength = 40 }, "truncated");
        yield return Case("bad magic", new HeaderSpec { Magic = 0x12345678 }, "not in QED format");
        yield return Case("unknown incompatible feature", new HeaderSpec { Features = 0x10 }, "Unsupported QED features: 10");
        yield return Case("cluster size not a power of two", new HeaderSpec { ClusterSize = 65536 + 4096 }, "cluster size is invalid");
        yield return Case("cluster size below 4 KiB", new HeaderSpec { ClusterSize = 2048, L1 = 2048 }, "cluster size is invalid");
        yield return Case("cluster size above 64 MiB", new HeaderSpec { ClusterSize = 1u << 27 }, "cluster size is invalid");
        yield return Case("table size 0", new HeaderSpec { TableSize = 0 }, "table size is invalid");
        yield return Case("table size not a power of two", new HeaderSpec { TableSize = 3 }, "table size is invalid");
        yield return Case("table size above 16", new HeaderSpec { TableSize = 32 }, "table size is invalid");
        yield return Case("image size not a multiple of 512", new HeaderSpec { ImageSize = 1000 }, "image size is invalid");
        yield return Case("image size over the maximum", new HeaderSpec { ImageSize = 1UL << 50 }, "image size is invalid");
        yield return Case("L1 offset not cluster aligned", new HeaderSpec { L1 = 65536 + 512 }, "table offset is invalid");
        yield return Case("L1 table past the end of the file", new HeaderSpec { L1 = 65536 * 10 }, "table offset is invalid");
        yield return Case("L1 table running off the end of the file", new HeaderSpec { L1 = 65536 * 3 }, "table offset is invalid");
        yield return Case("L1 table inside the header", new HeaderSpec { L1 = 0 }, "table offset is invalid");
        yield return Case("header size 0", new HeaderSpec { HeaderSize = 0 }, "header size is invalid");
        yield return Case("header size covering the tables", new HeaderSpec { HeaderSize = 0x10000 }, "table offset is invalid");
        yield return Case("backing name past the header area",
            new HeaderSpec { Features = 1, BackingOffset = 65530, BackingSize = 100 }, "backing filename offset is invalid");
        yield return Case("backing name over the header fields",
            new HeaderSpec { Features = 1, BackingOffset = 8, BackingSize = 20 }, "backing filename offset is invalid");
        yield return Case("backing name empty", new HeaderSpec { Features = 1, BackingOffset = 64, BackingSize = 0 }, "backing filename is empty");
        yield return Case("backing name with a NUL byte",
            new HeaderSpec { Features = 1, BackingOffset = 64, BackingSize = 8, BackingName = "ab\0cdefg" }, "NUL");
        yield return Case("missing backing file",
            new HeaderSpec { Features = 1, BackingOffset = 64, BackingSize = 7, BackingName = "nothere" }, "No such file or directory", headerLevel: false);
        yield return Case("missing backing file, dirty, with a partial cluster at the end",
            new HeaderSpec { Features = 1 | 2, Autoclear = 0x100, BackingOffset = 64, BackingSize = 7, BackingName = "nothere", FileLength = 5 * 65536 + 1000 },
            "No such file or directory", headerLevel: false);
        yield return Case("backing file that is the image itself",
            new HeaderSpec { Features = 1, BackingOffset = 64, BackingSize = 7, BackingName = "bad.img" }, "loops", headerLevel: false);
        yield return Case("L2 table past the end of the file",
            new HeaderSpec { Patch = b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(65536), 65536 * 40) }, "invalid L2 table offset", headerLevel: false);
        yield return Case("L2 table overlapping the L1 table",
            new HeaderSpec { Patch = b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(65536), 65536) }, "invalid L2 table offset", headerLevel: false);
        yield return Case("two L2 tables overlapping each other",
            new HeaderSpec
            {
                ImageSize = 8UL << 30, FileLength = 12 * 65536,
                Patch = b =>
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(65536), 65536 * 5);
                    BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(65536 + 8), 65536 * 6);
                },
            }, "invalid L2 table offset", headerLevel: false);
        yield return Case("data cluster past the end of the file",
            new HeaderSpec
            {
                FileLength = 9 * 65536,
                Patch = b =>
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(65536), 65536 * 5);
                    BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(65536 * 5), 65536 * 100);
                },
            }, "invalid cluster offset", headerLevel: false);
        yield return Case("data cluster pointing into the L1 table",
            new HeaderSpec
            {
                FileLength = 9 * 65536,
                Patch = b =>
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(65536), 65536 * 5);
                    BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(65536 * 5), 65536 * 2);
                },
            }, "invalid cluster offset", headerLevel: false);
        yield return Case("backing file in an unsupported format",
            new HeaderSpec { Features = 1, BackingOffset = 64, BackingSize = 10, BackingName = "qcow2.file" }, "not supported", headerLevel: false);
    }

    private static void AssertOneLineError(RunResult r, string expect, string what)
    {
        Assert.That(r.ExitCode, Is.Not.EqualTo(0), $"{what} should fail:\n{r}");
        var lines = r.Stderr.TrimEnd('\n').Split('\n');
        Assert.That(lines, Has.Length.EqualTo(1), $"{what}: stderr must be one line:\n{r}");
        Assert.That(lines[0], Does.StartWith("emu-img: "), what);
        Assert.That(lines[0], Does.Contain(expect), what);
        Assert.That(r.Stderr + r.Stdout, Does.Not.Contain("   at "), $"{what}: stack trace leaked");
    }

    [TestCaseSource(nameof(MalformedImages))]
    public void MalformedImageIsRefusedAndLeftAlone(HeaderSpec spec, string expect, bool headerLevel)
    {
        using var dir = new TestDir();
        string img = dir["bad.img"];
        File.WriteAllBytes(img, spec.Build());
        File.WriteAllBytes(dir["qcow2.file"], [(byte)'Q', (byte)'F', (byte)'I', 0xfb, 0, 0, 0, 3]);
        var before = ImagePatcher.Hash(img);

        var commands = new List<string[]>
        {
            new[] { "convert", "-f", "qed", "-O", "raw", img, dir["out.raw"] },
            new[] { "map", "-f", "qed", "--output=json", img },
            new[] { "compare", "-f", "qed", "-F", "qed", img, img },
            new[] { "commit", "-f", "qed", img },
            new[] { "rebase", "-f", "qed", "-b", "", img },
            new[] { "bench", "-f", "qed", "-c", "100", img },
        };
        if (headerLevel)
        {
            commands.Add(["info", "-f", "qed", img]);
            commands.Add(["check", "-f", "qed", img]);
            commands.Add(["check", "-f", "qed", "-r", "all", img]);
            commands.Add(["resize", "-f", "qed", img, "+1M"]);
        }
        foreach (var args in commands)
        {
            var r = Tool.Run(args);
            // compare and commit of an image with itself/without backing fail for their own reasons; the rest must name the fault.
            bool ownReason = args[0] is "commit" && !headerLevel || args[0] is "rebase" && !headerLevel && !expect.Contains("No such") && !expect.Contains("loops") && !expect.Contains("supported");
            AssertOneLineError(r, ownReason ? "" : expect, string.Join(' ', args));
            Assert.That(ImagePatcher.Hash(img), Is.EqualTo(before), $"{string.Join(' ', args)} changed the image's bytes");
        }
    }

    [Test]
    public void MalformedImageThroughTheRealExecutable()
    {
        using var dir = new TestDir();
        File.WriteAllBytes(dir["bad.qed"], new HeaderSpec { TableSize = 3 }.Build());
        var r = Tool.EmuImgProcess("info", dir["bad.qed"]);
        AssertOneLineError(r, "QED table size is invalid", "emu-img info (process)");
        var r2 = Tool.EmuImgProcess("convert", "-O", "qed", "/nonexistent/x.qed", dir["o.qed"]);
        AssertOneLineError(r2, "No such file or directory", "emu-img convert (process)");
    }

    private static IEnumerable<TestCaseData> BadArguments()
    {
        TestCaseData Case(string expect, params string[] args) => new TestCaseData(args, expect).SetName("BadArgs: " + string.Join(' ', args));
        yield return Case("Unrecognized command or argument 'frobnicate'", "frobnicate");
        yield return Case("Unrecognized", "info", "--bogus", "x.qed");
        yield return Case("Invalid image size", "create", "-f", "qed", "{dir}/a.qed", "12Q");
        yield return Case("Invalid image size", "create", "-f", "qed", "{dir}/a.qed", "-5");
        yield return Case("Image creation needs a size parameter", "create", "-f", "qed", "{dir}/a.qed");
        yield return Case("Unknown file format 'qcow2'", "create", "-f", "qcow2", "{dir}/a.qed", "1M");
        yield return Case("QED cluster size must be within range", "create", "-f", "qed", "-o", "cluster_size=3000", "{dir}/a.qed", "1M");
        yield return Case("QED table size must be within range", "create", "-f", "qed", "-o", "table_size=32", "{dir}/a.qed", "1M");
        yield return Case("Invalid parameter 'colour'", "create", "-f", "qed", "-o", "colour=red", "{dir}/a.qed", "1M");
        yield return Case("Backing file specified without backing format", "create", "-f", "qed", "-b", "x.raw", "{dir}/a.qed", "1M");
        yield return Case("No such file or directory", "create", "-f", "qed", "-b", "missing.raw", "-F", "raw", "{dir}/a.qed", "1M");
        yield return Case("Could not open", "info", "{dir}/missing.qed");
        yield return Case("Is a directory", "info", "{dir}");
        yield return Case("Argument 'everything' not recognized. Must be one of: 'leaks' 'all'", "check", "-r", "everything", "{dir}/good.qed");
        yield return Case("Shrinking images is currently not supported", "resize", "--shrink", "{dir}/good.qed", "1M");
        yield return Case("Use the --shrink option", "resize", "{dir}/good.qed", "-1M");
        yield return Case("Image does not have a backing file", "commit", "{dir}/good.qed");
        yield return Case("Unknown file format 'vmdk'", "convert", "-O", "vmdk", "{dir}/good.qed", "{dir}/o.vmdk");
        yield return Case("Argument 'xml' not recognized. Must be one of: 'human' 'json'", "map", "--output=xml", "{dir}/good.qed");
        yield return Case("Invalid request count", "bench", "-c", "0", "{dir}/good.qed");
    }

    [TestCaseSource(nameof(BadArguments))]
    public void WrongArgumentsGiveOneLine(string[] args, string expect)
    {
        using var dir = new TestDir();
        QemuImgOk("create", "-f", "qed", dir["good.qed"], "4M");
        var before = ImagePatcher.Hash(dir["good.qed"]);
        var r = Tool.Run(args.Select(a => a.Replace("{dir}", dir.Path)).ToArray());
        AssertOneLineError(r, expect, string.Join(' ', args));
        Assert.That(ImagePatcher.Hash(dir["good.qed"]), Is.EqualTo(before));
    }
}
