namespace Qed.Tests.PowerCut;

/// <summary>
/// The short mode of the power-cut simulation (the long one is `fuzz powercut`, see qed/README.md):
/// random guest sessions with and without a backing file, cut at random points of their I/O, each cut
/// image checked by this engine and (one in four) by qemu-img, opened, read back against what the guest
/// wrote and flushed, written again, cut again and closed in order.
/// </summary>
[TestFixture, Parallelizable(ParallelScope.All)]
public class PowerCutSimulationTests
{
    private static readonly PowerCutOptions Short = new() { CutsPerScenario = 4, SubsetsPerCut = 2, QemuCheckEvery = 4, Steps = 40, StepsAfterCut = 6 };

    /// <summary>Four groups of seeds, run in parallel.</summary>
    [TestCase(0), TestCase(1), TestCase(2), TestCase(3)]
    public async Task RandomSessionsSurviveCutsAnywhere(int group)
    {
        var stats = new PowerCutStats();
        for (int seed = group * 1000; seed < group * 1000 + 12; seed++)
            await PowerCutSimulator.RunAsync(seed, Short, stats);
        TestContext.Out.WriteLine(stats);
        Assert.That(stats.Failures, Is.Empty, string.Join("\n", stats.Failures.Take(5)));
        Assert.That(stats.Cuts, Is.GreaterThanOrEqualTo(12 * 2), "cut points were verified");
        Assert.That(stats.SecondCuts, Is.GreaterThan(0), "the session after a cut was itself cut");
        Assert.That(stats.QemuChecks, Is.GreaterThan(0), "qemu-img checked some cut images");
    }
}
