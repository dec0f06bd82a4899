using Emulator.Machine;
using NUnit.Framework;

namespace Machine.Tests.Machine;

/// <summary>
/// The host-mode clock with an instruction counter attached (what the board uses): guest time is paced by the
/// instructions retired and steered toward the host clock between slices. The host clock here is a variable
/// the test moves, so a host stall, a slow emulator or a fast one can be played exactly.
/// </summary>
public class PacedClockTests
{
    private long host, instructions;
    private VirtualClock clock = null!;

    [SetUp]
    public void SetUp()
    {
        host = 1_000_000;
        instructions = 0;
        clock = new VirtualClock(ClockMode.Host, hostClock: () => host);
        clock.AttachInstructionCounter(() => instructions);
    }

    /// <summary>Starts a slice as the event loop does: while guest time is too far ahead, the loop waits for the
    /// host (here: the host clock moves) and asks again.</summary>
    private long Begin(long deadline = long.MaxValue)
    {
        long budget;
        while ((budget = clock.BeginSlice(deadline, 1_000_000)) == 0)
            host += -clock.LagNs - VirtualClock.MaxLeadNs / 2;
        return budget;
    }

    /// <summary>One slice as the event loop runs it: the budget, the instructions retired at
    /// <paramref name="hostNsPerInstruction"/> of host time each, and a host stall in the middle.</summary>
    private long RunSlice(double hostNsPerInstruction, long stallNs = 0, long deadline = long.MaxValue)
    {
        long budget = Begin(deadline);
        long half = budget / 2;
        instructions += half;
        host += (long)(half * hostNsPerInstruction) + stallNs;
        instructions += budget - half;
        host += (long)((budget - half) * hostNsPerInstruction);
        clock.EndSlice(budget, (long)(budget * hostNsPerInstruction) + stallNs);
        return budget;
    }

    [Test]
    public void WithinASlice_TimeFollowsInstructions_NotAHostStall()
    {
        for (int k = 0; k < 50; k++) RunSlice(5);                // settle the pace at the emulator's speed
        long budget = Begin();
        double pace = clock.NsPerInstruction;
        long t0 = clock.NowNs;
        var readings = new List<long>();
        for (int k = 0; k < 100; k++)
        {
            instructions += 10;
            host += k == 50 ? 40_000_000 : 50;                   // a 40 ms pause of the host process halfway
            readings.Add(clock.NowNs);
        }
        var steps = readings.Zip(readings.Skip(1), (a, b) => b - a).ToArray();
        Assert.That(steps.Max() - steps.Min(), Is.LessThanOrEqualTo(1), "every 10 instructions advance time equally");
        Assert.That(readings[^1] - t0, Is.EqualTo((long)(1000 * pace)).Within(1));
        Assert.That(pace, Is.EqualTo(5).Within(0.5), "the pace is the emulator's measured speed");
        Assert.That(budget, Is.EqualTo((long)Math.Ceiling(1_000_000 / pace)).Within(1), "a 1 ms slice of guest time");
    }

    [Test]
    public void AHostStall_IsCaughtUpWithinAFewHundredMilliseconds_WithoutJumps()
    {
        for (int k = 0; k < 50; k++) RunSlice(5);
        Assert.That(Math.Abs(clock.LagNs), Is.LessThan(1_000_000), "settled");
        RunSlice(5, stallNs: 60_000_000);                        // the host took 60 ms away
        Assert.That(clock.LagNs, Is.GreaterThan(55_000_000), "the stall is lag, not guest time");
        long last = clock.NowNs;
        long hostAtStall = host;
        double maxPaceRatio = 0;
        while (clock.LagNs > 1_000_000 && host - hostAtStall < 1_000_000_000)
        {
            long before = clock.NowNs;
            long n = RunSlice(5);
            Assert.That(clock.NowNs, Is.GreaterThanOrEqualTo(before), "monotonic");
            maxPaceRatio = Math.Max(maxPaceRatio, (clock.NowNs - before) / (n * 5.0));
            Assert.That(clock.LagNs, Is.GreaterThan(-VirtualClock.MaxLeadNs), "never runs ahead of the host");
            last = clock.NowNs;
        }
        Assert.That(clock.LagNs, Is.LessThanOrEqualTo(1_000_000), "caught up");
        Assert.That(host - hostAtStall, Is.LessThan(300_000_000), "within 300 ms of host time");
        Assert.That(maxPaceRatio, Is.LessThanOrEqualTo(4.01), "guest time ran at most 4x the emulator's speed");
    }

    [Test]
    public void SpeedChanges_KeepGuestTimeWithinMillisecondsOfTheHost_OverTenSeconds()
    {
        var rng = new Random(17);
        double speed = 5;
        long maxLead = 0, maxLagAfterWarmUp = 0;
        while (host < 10_000_000_000)
        {
            if (rng.Next(200) == 0) speed = rng.NextDouble() * 40 + 2;   // 25 to 500 MIPS, changing now and then
            RunSlice(speed);
            maxLead = Math.Max(maxLead, -clock.LagNs);
            if (host > 1_000_000_000) maxLagAfterWarmUp = Math.Max(maxLagAfterWarmUp, clock.LagNs);
        }
        Assert.That(maxLead, Is.LessThanOrEqualTo(VirtualClock.MaxLeadNs + 1_000_000), "at most ~one slice beyond the lead limit");
        Assert.That(maxLagAfterWarmUp, Is.LessThan(100_000_000), "a speed change is absorbed");
        Assert.That(Math.Abs(clock.LagNs), Is.LessThan(20_000_000), "guest time is host time at the end");
    }

    [Test]
    public void HaltedCpu_CatchesUpToTheHost_ButNotPastTheNextTimer()
    {
        RunSlice(5, stallNs: 30_000_000);
        long g = clock.NowNs;
        clock.AdvanceTo(g + 10_000_000);                          // next timer 10 ms away: it fires on time
        Assert.That(clock.NowNs, Is.EqualTo(g + 10_000_000));
        clock.AdvanceTo(long.MaxValue);                           // no timer: all the way to the host clock
        Assert.That(clock.LagNs, Is.Zero);
        host += 5_000;
        clock.AdvanceTo(clock.NowNs + 1_000);
        Assert.That(clock.LagNs, Is.EqualTo(4_000), "never beyond the timer");
    }

    [Test]
    public void GuestTimeAheadOfTheHost_StopsTheCpu()
    {
        for (int k = 0; k < 20; k++) RunSlice(5);
        // The emulator suddenly runs 10x faster than its estimate: guest time outruns the host until the
        // estimate catches up; the loop is told to wait rather than let guest time run further ahead.
        int waits = 0;
        for (int k = 0; k < 50; k++)
        {
            long budget = clock.BeginSlice(long.MaxValue, 1_000_000);
            if (budget == 0) { waits++; host += 1_000_000; continue; }
            instructions += budget;
            host += budget / 2;
            clock.EndSlice(budget, budget / 2);
            Assert.That(-clock.LagNs, Is.LessThanOrEqualTo(VirtualClock.MaxLeadNs + 1_000_000), "at most one slice beyond the limit");
        }
        Assert.That(waits, Is.GreaterThan(0), "the loop was told to wait");
    }

    [Test]
    public void ReadingsAnInstructionApartDiffer_EvenWhenTheEmulatorIsVeryFast()
    {
        for (int k = 0; k < 100; k++) RunSlice(0.5);              // a (hypothetical) 2,000 MIPS emulator
        Begin();
        long a = clock.NowNs;
        instructions++;
        Assert.That(clock.NowNs, Is.GreaterThan(a));
    }

    [Test]
    public void ALagBeyondTheLimit_IsDroppedInOneJump()
    {
        RunSlice(5);
        host += 3_000_000_000;                                    // the process was stopped for 3 s
        clock.BeginSlice(long.MaxValue, 1_000_000);
        Assert.That(clock.LagNs, Is.EqualTo(VirtualClock.MaxLagNs).Within(1));
    }

    [Test]
    public void SliceEndsExactlyAtTheTimerDeadline()
    {
        for (int k = 0; k < 20; k++) RunSlice(5);
        long deadline = clock.NowNs + 123_456;
        long budget = Begin(deadline);
        Assert.That(clock.NowNs, Is.LessThan(deadline), "no wait moved guest time");
        instructions += budget - 1;
        Assert.That(clock.NowNs, Is.LessThan(deadline), "one instruction short of it");
        instructions += 1;
        Assert.That(clock.NowNs, Is.GreaterThanOrEqualTo(deadline).And.LessThan(deadline + 2 * clock.NsPerInstruction));
    }
}
