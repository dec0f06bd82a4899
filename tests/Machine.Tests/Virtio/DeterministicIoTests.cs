using Emulator.Machine;
using Emulator.Virtio;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Virtio;

/// <summary>In the deterministic clock mode a request completes at its modelled virtual time, whatever the host
/// does; the trace records both clocks.</summary>
public class DeterministicIoTests
{
    private const ulong AllFeatures = ~0UL & ~(1UL << 30);

    private static VirtioRig Rig(TimeSpan hostDelay)
    {
        var rig = new VirtioRig(mode: ClockMode.Deterministic, disk: new TestBlockDevice(1 << 20) { Delay = hostDelay });
        rig.Driver.MapBars();
        Assert.That(rig.Driver.InitModern(AllFeatures), Is.True);
        return rig;
    }

    [TestCase(0)]
    [TestCase(50)]
    public void ReadCompletesAtSubmitTimePlusModelledLatency(int hostDelayMs)
    {
        using var rig = Rig(TimeSpan.FromMilliseconds(hostDelayMs));
        rig.AdvanceTo(1_000);
        var r = rig.Driver.Read(8, 4096);
        long due = 1_000 + rig.Blk.Engine.LatencyNs(BlockOp.Read, 4096);
        rig.AdvanceTo(due - 1);
        rig.Loop.RunPostedWork();
        Assert.That(rig.Driver.UsedIdx, Is.EqualTo(0), "not before its virtual time, even if the host is done");
        rig.AdvanceTo(due);                              // the timer waits for the host when it is slower
        Assert.That(rig.Driver.UsedIdx, Is.EqualTo(1));
        Assert.That(rig.Irq11, Is.True);
        var t = rig.Traces.Single();
        Assert.That((t.Op, t.Offset, t.Length, t.Succeeded), Is.EqualTo((BlockOp.Read, 8L * 512, 4096L, true)));
        Assert.That((t.SubmitVirtualNs, t.CompleteVirtualNs), Is.EqualTo((1_000L, due)));
        Assert.That(t.CompleteHostTicks, Is.GreaterThanOrEqualTo(t.SubmitHostTicks));
    }

    [Test]
    public void TwoRunsGiveTheSameVirtualTimeline()
    {
        List<(BlockOp, long, long)> Timeline(int seed)
        {
            using var rig = Rig(TimeSpan.FromMilliseconds(new Random(seed).Next(0, 5)));
            var rng = new Random(7);
            for (int i = 0; i < 20; i++)
            {
                rig.AdvanceTo(rig.Instructions + rng.Next(1, 100_000));
                if (rng.Next(2) == 0) rig.Driver.Read((ulong)rng.Next(0, 2000), 512 * (uint)rng.Next(1, 8));
                else rig.Driver.Write((ulong)rng.Next(0, 2000), new byte[512 * rng.Next(1, 8)]);
            }
            rig.AdvanceTo(rig.Instructions + 10_000_000);
            return rig.Traces.Select(t => (t.Op, t.SubmitVirtualNs, t.CompleteVirtualNs)).ToList();
        }
        var first = Timeline(1);
        Assert.That(first, Has.Count.EqualTo(20));
        Assert.That(Timeline(2), Is.EqualTo(first), "host timing differs between runs, the virtual timeline does not");
    }

    [Test]
    public void DrainAtExitDoesNotWaitForModelledTimes()
    {
        using var rig = Rig(TimeSpan.FromMilliseconds(30));
        var r = rig.Driver.Read(0, 512);
        var w = rig.Driver.Write(1, new byte[512]);
        Assert.That(rig.Blk.Engine.Drain(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(rig.Blk.Engine.InFlight, Is.EqualTo(0));
        Assert.That(rig.Driver.UsedIdx, Is.EqualTo(2), "both finished without virtual time passing");
        Assert.That(rig.Clock.NowNs, Is.EqualTo(0));
        _ = (r, w);
    }
}
