namespace Qed.Tests.Support;

/// <summary>A clock that moves only when the test says so (like the emulator's virtual clock).</summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly List<ManualTimer> _timers = new();
    private DateTimeOffset _now = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var t = new ManualTimer(this, callback, state);
        lock (_timers) _timers.Add(t);
        t.Change(dueTime, period);
        return t;
    }

    /// <summary>Moves time forward and runs every timer that comes due, on the calling thread.</summary>
    public void Advance(TimeSpan by)
    {
        _now += by;
        ManualTimer[] due;
        lock (_timers) due = _timers.Where(t => t.Due is { } d && d <= _now).ToArray();
        foreach (var t in due)
        {
            t.Due = null;
            t.Callback(t.State);
        }
    }

    public int ArmedTimers
    {
        get { lock (_timers) return _timers.Count(t => t.Due is not null); }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public readonly TimerCallback Callback = callback;
        public readonly object? State = state;
        public DateTimeOffset? Due;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
            return true;
        }

        public void Dispose()
        {
            Due = null;
            lock (owner._timers) owner._timers.Remove(this);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
