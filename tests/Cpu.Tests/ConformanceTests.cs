using System.IO.Compression;
using Emulator.Cpu.Conformance;
using NUnit.Framework;

namespace Cpu.Tests;

/// <summary>
/// Real-hardware conformance: the SingleStepTests captures from an 80286 and a 386EX (Data/*/README.md)
/// through the same runner as <c>emu test-cpu</c>. The per-opcode table goes to the test log.
/// </summary>
public class ConformanceTests
{
    private static string Data(string name) => Path.Combine(TestContext.CurrentContext.TestDirectory, "Data", name);

    [Test]
    public void Real286CapturesPassAtLeast99Point5Percent()
    {
        var report = new SingleStepRunner().RunDirectory(Data("sst286"));
        report.Print(TestContext.Out, summaryPrefix: "SingleStepTests: ");
        Assert.Multiple(() =>
        {
            Assert.That(report.Files, Has.Count.EqualTo(325), "every vector file of the copied data ran");
            Assert.That(report.Passed + report.Failed + report.Excluded, Is.EqualTo(52_356), "every test was counted");
            Assert.That(report.Excluded, Is.LessThan(report.Passed / 20), "exclusions stay a small minority");
            Assert.That(report.PassRate, Is.GreaterThanOrEqualTo(0.995));
        });
    }

    [Test]
    public void Real386SamplePasses()
    {
        var report = new SingleStepRunner().RunDirectory(Data("sst386-sample"));
        report.Print(TestContext.Out, summaryPrefix: "SingleStepTests: ");
        Assert.That(report.Passed, Is.EqualTo(500));
        Assert.That(report.Failed, Is.Zero);
    }

    [Test]
    public void EveryExclusionNamesOneOfTheStatedReasons()
    {
        var reasons = new[]
        {
            SingleStepRunner.ReasonLength, SingleStepRunner.ReasonFsGs, SingleStepRunner.ReasonLock,
            SingleStepRunner.ReasonNotRestartable,
        };
        var report = new SingleStepRunner().RunDirectory(Data("sst286"));
        foreach (var f in report.Files)
            foreach (var (reason, count) in f.Exclusions)
            {
                Assert.That(reasons, Does.Contain(reason), $"{f.File}: unlisted exclusion reason");
                Assert.That(count, Is.Positive);
            }
    }

    [Test]
    public void TheRunnerReportsAWrongResultAsAFailure()
    {
        // A genuine capture (ADD AL, imm8: AL 0x01 + 0x01) with the expected AL changed from 2 to 3.
        string dir = Path.Combine(Path.GetTempPath(), "sst-mutant-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        string good = """{"name":"add al,1","bytes":[4,1,244],"initial":{"regs":{"ax":1,"bx":0,"cx":0,"dx":0,"cs":4096,"ss":0,"ds":0,"es":0,"sp":256,"bp":0,"si":0,"di":0,"ip":0,"flags":2},"ram":[[65536,4],[65537,1],[65538,244]]},"final":{"regs":{"ax":2,"ip":3},"ram":[]},"hash":"x"}""";
        string bad = good.Replace("\"ax\":2", "\"ax\":3");
        using (var gz = new GZipStream(File.Create(Path.Combine(dir, "04.jsonl.gz")), CompressionLevel.Fastest))
        using (var w = new StreamWriter(gz))
        {
            w.WriteLine(good);
            w.WriteLine(bad);
        }
        var report = new SingleStepRunner().RunDirectory(dir);
        Directory.Delete(dir, true);
        Assert.That(report.Passed, Is.EqualTo(1));
        Assert.That(report.Failed, Is.EqualTo(1));
        Assert.That(report.Files[0].FailureSamples[0], Does.Contain("ax: got 0002, expected 0003"));
    }
}
