namespace Emulator.Machine;

/// <summary>A one-shot alarm on the <see cref="VirtualClock"/>; a device re-arms it for periodic events.</summary>
public sealed class DeviceTimer
{
    private readonly VirtualClock clock;

    public string Name { get; }
    internal Action Callback { get; }
    public long Deadline { get; internal set; }
    internal long Sequence;
    public bool IsArmed { get; internal set; }

    internal DeviceTimer(VirtualClock clock, string name, Action callback)
    {
        this.clock = clock;
        Name = name;
        Callback = callback;
    }

    /// <summary>Fires the callback on the loop thread once the clock reaches <paramref name="deadlineNs"/>.</summary>
    public void Arm(long deadlineNs) => clock.Arm(this, deadlineNs);

    public void Cancel() => clock.Cancel(this);

    public override string ToString() => IsArmed ? $"{Name} @ {Deadline} ns" : $"{Name} (idle)";
}
