using Emulator.Machine;

namespace Machine.Tests.Support;

/// <summary>A virtual clock the test moves by hand: deterministic mode with one "instruction" per ns.</summary>
public sealed class TestTime
{
    public long Ns;
    public VirtualClock Clock { get; }

    public TestTime()
    {
        Clock = new VirtualClock(ClockMode.Deterministic, 0);
        Clock.AttachInstructionCounter(() => Ns);
    }

    /// <summary>Moves time forward, firing each timer at its own deadline (as the event loop would).</summary>
    public void AdvanceTo(long target)
    {
        while (Clock.NextDeadline <= target)
        {
            Ns = Math.Max(Ns, Clock.NextDeadline);
            Clock.RunDueTimers();
        }
        Ns = Math.Max(Ns, target);
        Clock.RunDueTimers();
    }

    public void Advance(long ns) => AdvanceTo(Ns + ns);
}
