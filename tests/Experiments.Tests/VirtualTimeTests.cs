using Emulator.Machine;
using Qed;

namespace Experiments.Tests;

/// <summary>
/// The machine's clock as the storage engine's TimeProvider: timers fire on the loop at virtual deadlines, and a
/// QED image opened with synchronous I/O clears its need-check bit at the same virtual time in every run.
/// </summary>
[TestFixture]
public class VirtualTimeTests
{
    private sealed class FakeInstructions
    {
        public long Count;
    }

    [Test]
    public void TimersFireOnTheLoopAtTheirVirtualDeadline()
    {
        var clock = new VirtualClock(ClockMode.Deterministic, instructionShift: 0);
        var insns = new FakeInstructions();
        clock.AttachInstructionCounter(() => insns.Count);
        using var loop = new EventLoop(clock);
        loop.BindToCurrentThread();
        var time = new VirtualTimeProvider(loop);
        var fired = new List<long>();
        using var timer = time.CreateTimer(_ => fired.Add(clock.NowNs), null, TimeSpan.FromMilliseconds(5), Timeout.InfiniteTimeSpan);

        insns.Count = 4_999_999;
        loop.RunPending();
        Assert.That(fired, Is.Empty, "not yet due");
        insns.Count = 5_000_000;
        loop.RunPending();
        Assert.That(fired, Is.EqualTo(new[] { 5_000_000L }), "fires at 5 ms of guest time, once");
        insns.Count = 20_000_000;
        loop.RunPending();
        Assert.That(fired, Has.Count.EqualTo(1));

        timer.Change(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(2));   // periodic, re-armed from the callback
        insns.Count = 25_500_000;
        loop.RunPending();
        Assert.That(fired, Is.EqualTo(new[] { 5_000_000L, 25_500_000L }), "late timers fire once when the loop runs");
        Assert.That(time.GetTimestamp(), Is.EqualTo(25_500_000L));
        Assert.That(time.TimestampFrequency, Is.EqualTo(1_000_000_000L));
    }

    [Test]
    public void ChangesFromOtherThreadsApplyOnTheLoop()
    {
        var clock = new VirtualClock(ClockMode.Deterministic, instructionShift: 0);
        var insns = new FakeInstructions();
        clock.AttachInstructionCounter(() => insns.Count);
        using var loop = new EventLoop(clock);
        loop.BindToCurrentThread();
        var time = new VirtualTimeProvider(loop);
        int fired = 0;
        var timer = time.CreateTimer(_ => fired++, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Task.Run(() => timer.Change(TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan)).Wait();
        Assert.That(clock.ArmedCount, Is.EqualTo(0), "nothing touches the clock off the loop thread");
        loop.RunPending();
        Assert.That(clock.ArmedCount, Is.EqualTo(1), "the loop applied the change");
        insns.Count = 1_000_000;
        loop.RunPending();
        Assert.That(fired, Is.EqualTo(1));
        Task.Run(() => timer.Dispose()).Wait();
        timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        loop.RunPending();
        Assert.That(fired, Is.EqualTo(1), "a disposed timer stays quiet");
    }

    /// <summary>
    /// An allocation sets the need-check bit; 5 s of idle virtual time later the timer clears it, on the loop,
    /// with all I/O done synchronously: the bit is clear exactly from the deadline on, in every run.
    /// </summary>
    [Test]
    public async Task NeedCheckClearsAtTheVirtualDeadlineWithSynchronousIo()
    {
        string path = Path.Combine(Path.GetTempPath(), $"exp-needcheck-{Guid.NewGuid():N}.qed");
        try
        {
            await QedImage.CreateAsync(path, new QedCreateOptions { Size = 64 << 20 });
            var clock = new VirtualClock(ClockMode.Deterministic, instructionShift: 0);
            var insns = new FakeInstructions();
            clock.AttachInstructionCounter(() => insns.Count);
            using var loop = new EventLoop(clock);
            loop.BindToCurrentThread();
            var time = new VirtualTimeProvider(loop);
            await using var image = await QedImage.OpenAsync(path, new QedOpenOptions { TimeProvider = time, SynchronousIo = true });

            insns.Count = 1_000;
            var write = image.WriteAsync(1 << 20, new byte[4096]);
            Assert.That(write.IsCompleted, Is.True, "synchronous I/O: the allocating write is done when the call returns");
            await write;
            Assert.That(image.IsDirty, Is.True);
            Assert.That(clock.NextDeadline, Is.EqualTo(1_000 + 5_000_000_000L), "the need-check timer, 5 s of guest time later");

            insns.Count = 5_000_000_999;
            loop.RunPending();
            Assert.That(image.IsDirty, Is.True, "one nanosecond early");
            insns.Count = 5_000_001_000;
            loop.RunPending();
            Assert.That(image.IsDirty, Is.False, "cleared at the deadline, on the loop, synchronously");
            Assert.That(image.Statistics.NeedCheckClears, Is.EqualTo(1));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
