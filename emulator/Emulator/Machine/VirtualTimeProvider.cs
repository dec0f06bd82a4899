namespace Emulator.Machine;

/// <summary>
/// The machine's <see cref="VirtualClock"/> as a <see cref="TimeProvider"/>, for components outside the
/// board that keep their own timers (the QED engine's need-check timer, QEMU's 5 s
/// qed_start_need_check_timer). Timers are <see cref="DeviceTimer"/>s: their callbacks run on the loop
/// thread at a virtual time, so in the deterministic mode they fire at the same instruction in every run.
/// </summary>
public sealed class VirtualTimeProvider : TimeProvider
{
    private readonly EventLoop loop;

    public VirtualTimeProvider(EventLoop loop) => this.loop = loop;

    /// <summary>Nanoseconds of guest time.</summary>
    public override long TimestampFrequency => 1_000_000_000;

    public override long GetTimestamp() => loop.Clock.NowNs;

    /// <summary>Guest time counted from the Unix epoch (the host's wall clock never shows through).</summary>
    public override DateTimeOffset GetUtcNow() => DateTimeOffset.UnixEpoch.AddTicks(loop.Clock.NowNs / 100);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new LoopTimer(loop, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>
    /// A timer on the loop. Changes made on the loop thread apply at once; changes from other threads (an
    /// I/O completion on the thread pool in the host clock mode) are handed to the loop, which applies the
    /// latest one. Posting the timer itself keeps that free of allocations.
    /// </summary>
    private sealed class LoopTimer : ITimer, ILoopWork
    {
        private readonly EventLoop loop;
        private readonly DeviceTimer timer;
        private readonly TimerCallback callback;
        private readonly object? state;
        private TimeSpan period = Timeout.InfiniteTimeSpan;
        private TimeSpan pendingDue, pendingPeriod;
        private bool pending, posted, disposed;

        public LoopTimer(EventLoop loop, TimerCallback callback, object? state)
        {
            this.loop = loop;
            this.callback = callback;
            this.state = state;
            timer = loop.Clock.CreateTimer("time-provider", Fire);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (this)
            {
                if (disposed) return false;
                if (!loop.IsOnLoopThread)
                {
                    pendingDue = dueTime;
                    pendingPeriod = period;
                    pending = true;
                    if (!posted)
                    {
                        posted = true;
                        loop.Post(this);
                    }
                    return true;
                }
                pending = false;
            }
            Apply(dueTime, period);
            return true;
        }

        void ILoopWork.Execute()
        {
            TimeSpan due, per;
            lock (this)
            {
                posted = false;
                if (!pending) return;
                pending = false;
                if (disposed)
                {
                    timer.Cancel();
                    return;
                }
                due = pendingDue;
                per = pendingPeriod;
            }
            Apply(due, per);
        }

        /// <summary>Loop thread.</summary>
        private void Apply(TimeSpan dueTime, TimeSpan newPeriod)
        {
            period = newPeriod;
            if (dueTime == Timeout.InfiniteTimeSpan) timer.Cancel();
            else timer.Arm(loop.Clock.NowNs + Math.Max(0, dueTime.Ticks) * 100);
        }

        private void Fire()
        {
            lock (this)
                if (disposed) return;
            if (period != Timeout.InfiniteTimeSpan && period > TimeSpan.Zero)
                timer.Arm(loop.Clock.NowNs + period.Ticks * 100);
            callback(state);
        }

        public void Dispose()
        {
            lock (this)
            {
                if (disposed) return;
                disposed = true;
                if (!loop.IsOnLoopThread)
                {
                    // The loop cancels it (or never runs again, when the machine has stopped).
                    pending = true;
                    if (!posted)
                    {
                        posted = true;
                        loop.Post(this);
                    }
                    return;
                }
            }
            timer.Cancel();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
