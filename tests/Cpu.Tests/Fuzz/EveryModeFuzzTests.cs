using NUnit.Framework;

namespace Cpu.Tests.Fuzz;

/// <summary>
/// The short mode of the every-mode random-code fuzzer (the long one is `fuzz cpu`, see qed/README.md):
/// random bytes on the whole board in real, unreal, 16/32-bit protected mode, ring 3 and paging. The host
/// never throws or hangs, exceptions reach the guest's handlers, and a known program still runs right
/// after any round.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class EveryModeFuzzTests
{
    [TestCase(1), TestCase(2)]
    public void RandomCodeInEveryModeOnlyRaisesGuestEvents(int seed)
    {
        using var fuzzer = new EveryModeFuzzer(seed);
        Assert.That(fuzzer.Run(3000, TimeSpan.FromSeconds(120)), Is.True, "the fuzz loop hung");
        var stats = fuzzer.Stats;
        TestContext.Out.WriteLine(stats);
        Assert.That(stats.Failures, Is.Empty, string.Join("\n", stats.Failures.Take(3)));
        Assert.That(stats.RoundsByMode.All(n => n > 100), Is.True, "every mode ran");
        Assert.That(stats.Vectors.Count(n => n > 0), Is.GreaterThan(10), "many kinds of exceptions reached the guest's handlers");
        Assert.That(stats.Vectors[13] + stats.Vectors[14] + stats.Vectors[6], Is.GreaterThan(100), "#GP, #PF and #UD among them");
        Assert.That(stats.SanityRuns, Is.GreaterThan(10));
    }
}
