using System.Collections.Concurrent;

namespace Emulator.Machine;

/// <summary>A piece of work handed to the event loop from another thread (an I/O completion, serial input).
/// Pooled objects implement it so that posting allocates nothing.</summary>
public interface ILoopWork
{
    void Execute();
}

/// <summary>
/// The emulator thread's mailbox and clock. One thread owns all device and CPU state; other threads (the
/// thread pool finishing disk I/O, serial reader threads) only <see cref="Post(ILoopWork)"/> work here, and
/// the loop thread runs it between CPU slices. The CPU slicing itself lives in <see cref="Pc"/>.
/// </summary>
public sealed class EventLoop : IDisposable
{
    private readonly ConcurrentQueue<ILoopWork> queue = new();
    private readonly SemaphoreSlim signal = new(0, int.MaxValue);
    private int signalled;

    public VirtualClock Clock { get; }

    /// <summary>The context that makes <c>await</c> on the loop thread resume on the loop thread.</summary>
    public SynchronizationContext SynchronizationContext { get; }

    /// <summary>The thread that runs the loop (set by <see cref="BindToCurrentThread"/>).</summary>
    public int OwnerThreadId { get; private set; }

    public EventLoop(VirtualClock clock)
    {
        Clock = clock;
        SynchronizationContext = new LoopSynchronizationContext(this);
        OwnerThreadId = Environment.CurrentManagedThreadId;
    }

    /// <summary>Makes the calling thread the loop's owner and installs the loop's synchronization context.</summary>
    public void BindToCurrentThread()
    {
        OwnerThreadId = Environment.CurrentManagedThreadId;
        System.Threading.SynchronizationContext.SetSynchronizationContext(SynchronizationContext);
    }

    public bool IsOnLoopThread => Environment.CurrentManagedThreadId == OwnerThreadId;

    /// <summary>Thread-safe: queues work for the loop thread and wakes it if it sleeps.</summary>
    public void Post(ILoopWork work)
    {
        queue.Enqueue(work);
        if (Interlocked.Exchange(ref signalled, 1) == 0)
            signal.Release();
    }

    /// <summary>Thread-safe convenience for rare events (allocates a small wrapper).</summary>
    public void Post(Action action) => Post(new ActionWork(action));

    public bool HasPostedWork => !queue.IsEmpty;

    /// <summary>Runs everything posted so far (and what that work posts in turn). Loop thread only.</summary>
    public int RunPostedWork()
    {
        int n = 0;
        while (queue.TryDequeue(out var work))
        {
            work.Execute();
            n++;
        }
        return n;
    }

    /// <summary>Applies posted work, then fires due timers. Loop thread only.</summary>
    public int RunPending() => RunPostedWork() + Clock.RunDueTimers();

    /// <summary>Sleeps until work is posted or <paramref name="timeoutNs"/> of host time passes
    /// (negative: no limit). Returns true when work is waiting.</summary>
    public bool WaitForWork(long timeoutNs)
    {
        if (!queue.IsEmpty) return true;
        Volatile.Write(ref signalled, 0);
        // Re-check after clearing the flag so a post racing with us is not slept through.
        if (!queue.IsEmpty) return true;
        if (timeoutNs < 0)
            signal.Wait();
        else if (timeoutNs > 0)
            signal.Wait(TimeSpan.FromTicks(Math.Max(1, timeoutNs / 100)));
        // Drain surplus permits so the semaphore does not count past posts.
        while (signal.CurrentCount > 0 && signal.Wait(0)) { }
        return !queue.IsEmpty;
    }

    /// <summary>Runs posted work (not timers) until <paramref name="condition"/> holds or the host-time
    /// limit passes; returns the condition. Used when the loop must wait for the host (a drain before reset,
    /// a disk completion due at a deterministic virtual time).</summary>
    public bool PumpUntil(Func<bool> condition, TimeSpan limit)
    {
        long deadline = Environment.TickCount64 + (long)limit.TotalMilliseconds;
        while (true)
        {
            RunPostedWork();
            if (condition()) return true;
            long left = deadline - Environment.TickCount64;
            if (left <= 0) return false;
            WaitForWork(Math.Min(left, 50) * 1_000_000);
        }
    }

    /// <summary>Nothing to release: the semaphore is left to the GC so that a completion arriving from the host
    /// after the machine stopped (an I/O that outlived a drain) posts harmlessly instead of crashing.</summary>
    public void Dispose() { }

    private sealed class ActionWork(Action action) : ILoopWork
    {
        public void Execute() => action();
    }
}
