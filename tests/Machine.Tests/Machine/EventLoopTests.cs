using Emulator.Machine;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Machine;

public class EventLoopTests
{
    [Test]
    public void TimersFireInDeadlineOrderThenArmingOrder()
    {
        var t = new TestTime();
        var order = new List<string>();
        var a = t.Clock.CreateTimer("a", () => order.Add("a"));
        var b = t.Clock.CreateTimer("b", () => order.Add("b"));
        var c = t.Clock.CreateTimer("c", () => order.Add("c"));
        c.Arm(300); a.Arm(100); b.Arm(100);
        t.AdvanceTo(1000);
        Assert.That(order, Is.EqualTo(new[] { "a", "b", "c" }));
        b.Arm(2000);
        b.Cancel();
        t.AdvanceTo(3000);
        Assert.That(order, Has.Count.EqualTo(3));
    }

    [Test]
    public void RearmingFromTheCallbackMakesAPeriodicTimer()
    {
        var t = new TestTime();
        int ticks = 0;
        DeviceTimer? timer = null;
        timer = t.Clock.CreateTimer("tick", () => { ticks++; timer!.Arm(timer.Deadline + 1000); });
        timer.Arm(1000);
        t.AdvanceTo(10_500);
        Assert.That(ticks, Is.EqualTo(10));
    }

    [Test]
    public void DeterministicClockCountsInstructionsAndJumpsWhileIdle()
    {
        long instructions = 0;
        var clock = new VirtualClock(ClockMode.Deterministic, instructionShift: 2);
        clock.AttachInstructionCounter(() => instructions);
        instructions = 250;
        Assert.That(clock.NowNs, Is.EqualTo(1000));
        clock.AdvanceTo(5000);
        Assert.That(clock.NowNs, Is.EqualTo(5000));
        instructions = 260;
        Assert.That(clock.NowNs, Is.EqualTo(5040));
        Assert.That(clock.InstructionsUntil(6000), Is.EqualTo(240));
        Assert.That(clock.InstructionsUntil(6001), Is.EqualTo(241), "rounded up so the deadline is reached");
        clock.AcrossCounterReset(() => instructions = 0);  // a CPU reset that restarts the counter
        Assert.That(clock.NowNs, Is.EqualTo(5040), "time does not run backwards");
    }

    [Test]
    public void HostClockModeFollowsTheMonotonicClock()
    {
        var clock = new VirtualClock(ClockMode.Host);
        long a = clock.NowNs;
        Thread.Sleep(20);
        long b = clock.NowNs;
        Assert.That(b - a, Is.GreaterThanOrEqualTo(15_000_000));
    }

    [Test]
    public void WorkPostedFromAnotherThreadWakesTheLoopAndRunsOnIt()
    {
        var loop = new EventLoop(new VirtualClock());
        loop.BindToCurrentThread();
        int ranOn = -1;
        var poster = new Thread(() => { Thread.Sleep(30); loop.Post(() => ranOn = Environment.CurrentManagedThreadId); });
        poster.Start();
        Assert.That(loop.WaitForWork(5_000_000_000), Is.True, "woken by the post");
        loop.RunPostedWork();
        Assert.That(ranOn, Is.EqualTo(Environment.CurrentManagedThreadId));
        poster.Join();
        Assert.That(loop.WaitForWork(1_000_000), Is.False, "times out when nothing comes");
    }

    [Test]
    public void AwaitOnTheLoopResumesOnTheLoopThread()
    {
        var loop = new EventLoop(new VirtualClock());
        var previous = SynchronizationContext.Current;
        try
        {
            loop.BindToCurrentThread();
            int loopThread = Environment.CurrentManagedThreadId;
            int resumedOn = -1;
            async Task Work()
            {
                await Task.Delay(20);                      // completes on a timer thread
                resumedOn = Environment.CurrentManagedThreadId;
            }
            var task = Work();
            Assert.That(loop.PumpUntil(() => task.IsCompleted, TimeSpan.FromSeconds(5)), Is.True);
            Assert.That(resumedOn, Is.EqualTo(loopThread));
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
    }
}
