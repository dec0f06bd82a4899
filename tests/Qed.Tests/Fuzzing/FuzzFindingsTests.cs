using System.Buffers.Binary;
using System.Text;
using Qed.Tests.Support;

namespace Qed.Tests.Fuzzing;

/// <summary>
/// Inputs the fuzzers found that the engine or emu-img mishandled, each reduced to what matters and
/// kept as a test of the fix.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class FuzzFindingsTests
{
    /// <summary>A 64 KiB-cluster image whose header names a backing file given as raw bytes.</summary>
    private static byte[] ImageWithBackingName(byte[] name)
    {
        var b = new BadInputTests.HeaderSpec { Features = 1, BackingOffset = 64, BackingSize = (uint)name.Length }.Build();
        name.CopyTo(b, 64);
        return b;
    }

    /// <summary>
    /// Image fuzzer, input 67: a backing name holding a newline and control bytes came back verbatim in
    /// "Could not open backing file: Could not open '...'", so the error was several lines, and an
    /// escape sequence in a name reached the user's terminal. Messages now show such characters escaped.
    /// </summary>
    [Test]
    public void BackingNameWithControlCharactersGivesOnePrintableLine()
    {
        using var dir = new TestDir();
        var name = Encoding.UTF8.GetBytes("a\nb\u001b[31mred\u0007\u2028end");
        File.WriteAllBytes(dir["ctl.qed"], ImageWithBackingName(name));
        foreach (var args in new[] { new[] { "convert", "-O", "raw", dir["ctl.qed"], dir["o.raw"] }, ["map", dir["ctl.qed"]], ["compare", dir["ctl.qed"], dir["ctl.qed"]] })
        {
            var r = Tool.Run(args);
            Assert.That(r.ExitCode, Is.Not.EqualTo(0), r.ToString());
            Assert.That(r.Stderr.TrimEnd('\n').Split('\n'), Has.Length.EqualTo(1), r.ToString());
            Assert.That(r.Stderr.TrimEnd('\n').Any(char.IsControl), Is.False, $"control characters in: {r.Stderr}");
            Assert.That(r.Stderr, Does.Contain(@"a\nb\x1b[31mred\x07\u2028end"), "the name is shown, escaped");
        }
        var e = Assert.ThrowsAsync<ImageException>(async () => await ImageOpener.OpenAsync(dir["ctl.qed"], "qed", new QedOpenOptions { ReadOnly = true }));
        Assert.That(e!.Message.Any(char.IsControl), Is.False, e.Message);
    }
    /// <summary>
    /// Image fuzzer, input 100031099 (an image naming itself as its raw backing file): write-zeroes on
    /// whole clusters past the backing file's end left them unallocated, as they read as zeros then; once
    /// the file grew, the backing file had data there and the zeros the guest wrote read back as that
    /// data. Reduced: a backing file that grows after the write. The clusters are now zero clusters, as
    /// QEMU marks them.
    /// </summary>
    [Test]
    public async Task WriteZeroesPastTheBackingFilesEndStayZeroWhenTheBackingFileGrows()
    {
        var file = new MemoryImageFile("/mem/over.qed");
        await QedImage.CreateAsync(file, new QedCreateOptions { Size = 1 << 20, ClusterSize = 65536, TableSize = 4, BackingFile = "base.raw", BackingFormat = "raw" });
        QedOpenOptions Over(byte[] backing) => new()
        {
            TimeProvider = new ManualTimeProvider(),
            BackingOpener = (_, _, _) => ValueTask.FromResult<IBlockDevice>(
                new RawImage(new MemoryImageFile("/mem/base.raw", backing, readOnly: true), readOnly: true)),
        };
        await using (var image = await QedImage.OpenAsync(file, Over(Enumerable.Repeat((byte)0x77, 65536).ToArray())))
            await image.WriteZeroesAsync(4 * 65536, 2 * 65536);
        await using var reopened = await QedImage.OpenAsync(file, Over(Enumerable.Repeat((byte)0x77, 1 << 20).ToArray()));
        var back = new byte[2 * 65536];
        await reopened.ReadAsync(4 * 65536, back);
        Assert.That(back.AsSpan().IndexOfAnyExcept((byte)0), Is.EqualTo(-1), "the zeros written read back after the backing file grew");
        Assert.That((await reopened.GetBlockStatusAsync(4 * 65536, 65536)).Kind, Is.EqualTo(BlockStatusKind.Zero));
    }
}
