using System.Diagnostics;

namespace Emulator.Machine;

/// <summary>Where guest time comes from.</summary>
public enum ClockMode
{
    /// <summary>Guest time follows the host's monotonic clock (QEMU's default).</summary>
    Host,
    /// <summary>Guest time is derived from the instruction count, 2^shift ns per instruction, and jumps
    /// forward to the next timer while the CPU is halted (QEMU's <c>-icount shift=N</c>).</summary>
    Deterministic,
}

/// <summary>
/// The machine's virtual clock in nanoseconds, with the device timers that fire on it. The PIT, the RTC
/// and the CPU's TSC all read <see cref="NowNs"/>; only the event-loop thread touches it.
/// </summary>
public sealed class VirtualClock
{
    private readonly long hostStart = Stopwatch.GetTimestamp();
    private readonly List<DeviceTimer> armed = new();
    private long sequence;

    // Deterministic mode: now = accumulated + (instructions - instructionBase) << shift.
    private Func<long>? instructionSource;
    private long instructionBase;
    private long accumulatedNs;

    public ClockMode Mode { get; }

    /// <summary>Nanoseconds per instruction as a power of two (deterministic mode).</summary>
    public int InstructionShift { get; }

    public VirtualClock(ClockMode mode = ClockMode.Host, int instructionShift = 0)
    {
        if (instructionShift is < 0 or > 10)
            throw new ArgumentOutOfRangeException(nameof(instructionShift), "the instruction shift must be between 0 and 10");
        Mode = mode;
        InstructionShift = instructionShift;
    }

    /// <summary>Deterministic mode: the source of retired instructions (the CPU's counter).</summary>
    public void AttachInstructionCounter(Func<long> source)
    {
        Fold();
        instructionSource = source;
        instructionBase = source();
    }

    /// <summary>Runs <paramref name="resetCounter"/> (a CPU reset, which may restart the instruction counter)
    /// without time running backwards or jumping in the deterministic mode.</summary>
    public void AcrossCounterReset(Action resetCounter)
    {
        Fold();
        resetCounter();
        if (instructionSource != null) instructionBase = instructionSource();
    }

    private void Fold()
    {
        if (instructionSource == null) return;
        long count = instructionSource();
        accumulatedNs += (count - instructionBase) << InstructionShift;
        instructionBase = count;
    }

    public long NowNs
    {
        get
        {
            if (Mode == ClockMode.Host)
                return (long)((Stopwatch.GetTimestamp() - hostStart) * (1e9 / Stopwatch.Frequency));
            long now = accumulatedNs;
            if (instructionSource != null) now += (instructionSource() - instructionBase) << InstructionShift;
            return now;
        }
    }

    /// <summary>Deterministic mode: lets time pass without instructions (the CPU is halted).</summary>
    public void AdvanceTo(long ns)
    {
        if (Mode != ClockMode.Deterministic) return;
        Fold();
        long now = NowNs;
        if (ns > now) accumulatedNs += ns - now;
    }

    /// <summary>Deterministic mode: the instruction count that brings time to <paramref name="deadlineNs"/>.</summary>
    public long InstructionsUntil(long deadlineNs)
    {
        long delta = deadlineNs - NowNs;
        if (delta <= 0) return 1;
        long n = delta >> InstructionShift;
        return ((n << InstructionShift) < delta ? n + 1 : n);
    }

    // ---- timers ---------------------------------------------------------------------------------------

    public DeviceTimer CreateTimer(string name, Action callback) => new(this, name, callback);

    /// <summary>Deadline of the earliest armed timer, or <see cref="long.MaxValue"/>.</summary>
    public long NextDeadline => armed.Count > 0 ? armed[0].Deadline : long.MaxValue;

    public int ArmedCount => armed.Count;

    /// <summary>Fires every timer whose deadline has passed, earliest first (ties in arming order).
    /// Callbacks may arm and cancel timers, including themselves.</summary>
    public int RunDueTimers()
    {
        int fired = 0;
        while (armed.Count > 0)
        {
            var t = armed[0];
            if (t.Deadline > NowNs) break;
            armed.RemoveAt(0);
            t.IsArmed = false;
            fired++;
            t.Callback();
        }
        return fired;
    }

    internal void Arm(DeviceTimer timer, long deadline)
    {
        if (timer.IsArmed) armed.Remove(timer);
        timer.Deadline = deadline;
        timer.Sequence = ++sequence;
        timer.IsArmed = true;
        int lo = 0, hi = armed.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >> 1;
            var m = armed[mid];
            if (m.Deadline < deadline || (m.Deadline == deadline && m.Sequence < timer.Sequence)) lo = mid + 1;
            else hi = mid;
        }
        armed.Insert(lo, timer);
    }

    internal void Cancel(DeviceTimer timer)
    {
        if (!timer.IsArmed) return;
        armed.Remove(timer);
        timer.IsArmed = false;
    }
}
