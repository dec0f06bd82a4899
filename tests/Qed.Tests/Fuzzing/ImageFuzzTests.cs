namespace Qed.Tests.Fuzzing;

/// <summary>
/// The short mode of the image fuzzer (the long one is `fuzz images`, see qed/README.md): mutated
/// images through open, read, map, convert, check, repair and writes in memory, and some through
/// emu-img's commands on real files.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class ImageFuzzTests
{
    private static readonly Lazy<ImageCorpus> Corpus = new(ImageCorpus.Build);

    [TestCase(0), TestCase(1)]
    public async Task MutatedImagesNeverCrashHangOrWriteElsewhere(int group)
    {
        var fuzzer = new ImageFuzzer(Corpus.Value);
        var stats = new ImageFuzzStats();
        var tools = new ToolFuzzer(Corpus.Value, TimeSpan.FromSeconds(20));
        await ImageFuzzRunner.RunAsync(fuzzer, group * 10_000_000, 5000, stats, TimeSpan.FromSeconds(10), tools.Run, toolEvery: 50);
        TestContext.Out.WriteLine(stats);
        Assert.That(stats.Failures.Select(f => $"input {f.Seed}: {f.Why}"), Is.Empty);
        Assert.That(stats.Accepted, Is.GreaterThan(stats.Inputs / 20), "some inputs get past validation");
        Assert.That(stats.Refused, Is.GreaterThan(stats.Inputs / 20), "some inputs are refused");
        Assert.That(stats.ToolInputs, Is.GreaterThan(50), "inputs went through emu-img too");
    }
}
