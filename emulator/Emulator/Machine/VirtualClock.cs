using System.Diagnostics;

namespace Emulator.Machine;

/// <summary>Where guest time comes from.</summary>
public enum ClockMode
{
    /// <summary>Guest time follows the host's monotonic clock (QEMU's default), paced by the instructions the CPU
    /// retires once a counter is attached (see <see cref="VirtualClock"/>).</summary>
    Host,
    /// <summary>Guest time is derived from the instruction count, 2^shift ns per instruction, and jumps
    /// forward to the next timer while the CPU is halted (QEMU's <c>-icount shift=N</c>).</summary>
    Deterministic,
}

/// <summary>
/// The machine's virtual clock in nanoseconds, with the device timers that fire on it. The PIT, the RTC
/// and the CPU's TSC all read <see cref="NowNs"/>; only the event-loop thread touches it.
/// <para>
/// Host mode with an instruction counter attached (the board's case) is a paced clock. Within a CPU slice,
/// guest time advances with the instructions retired, at the emulator's own measured speed; between slices
/// the pace is corrected so that guest time follows the host clock: it runs up to 4x faster while it is
/// behind (<see cref="LagNs"/>), slower while ahead, and a halted CPU catches up at once, up to the next
/// timer. So over any stretch longer than a few tens of milliseconds guest time is host time, while a pause of
/// the emulator itself (the host scheduling other work, the .NET JIT compiling a method the guest reaches for
/// the first time, a garbage collection) is not seen by the guest as its own code running slowly: a loop that
/// polls the PIT and reads the TSC (Linux's TSC calibration) sees regular steps. Guest time is never more than
/// <see cref="MaxLeadNs"/> ahead of the host, and a lag beyond <see cref="MaxLagNs"/> is dropped in one jump.
/// </para>
/// </summary>
public sealed class VirtualClock
{
    /// <summary>Guest time runs at most this far ahead of the host clock; the loop waits instead.</summary>
    public const long MaxLeadNs = 2_000_000;
    /// <summary>A lag beyond this is dropped at once (a suspended process, a debugger), not caught up.</summary>
    public const long MaxLagNs = 500_000_000;
    /// <summary>A lag of this size doubles the pace of guest time relative to the emulator's speed.</summary>
    private const double CatchUpNs = 50_000_000;
    private const double MinPace = 0.25, MaxPace = 4;

    private readonly Func<long> hostNs;
    private readonly long hostStart;
    private readonly List<DeviceTimer> armed = new();
    private long sequence;

    // With a counter attached: now = accumulated + (instructions - instructionBase) * ns per instruction, where
    // ns per instruction is 2^shift (deterministic) or the slice's pace (host).
    private Func<long>? instructionSource;
    private long instructionBase;
    private long accumulatedNs;
    private double nsPerInstruction;
    private double hostNsPerInstruction = 20;   // the emulator's own speed, measured slice by slice

    public ClockMode Mode { get; }

    /// <summary>Nanoseconds per instruction as a power of two (deterministic mode).</summary>
    public int InstructionShift { get; }

    /// <param name="mode">Host or deterministic time.</param>
    /// <param name="instructionShift">Deterministic mode: 2^shift ns per instruction.</param>
    /// <param name="hostClock">The host's monotonic clock in ns (tests give their own; default the Stopwatch).</param>
    public VirtualClock(ClockMode mode = ClockMode.Host, int instructionShift = 0, Func<long>? hostClock = null)
    {
        if (instructionShift is < 0 or > 10)
            throw new ArgumentOutOfRangeException(nameof(instructionShift), "the instruction shift must be between 0 and 10");
        Mode = mode;
        InstructionShift = instructionShift;
        hostNs = hostClock ?? (() => (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency)));
        hostStart = hostNs();
        nsPerInstruction = mode == ClockMode.Host ? hostNsPerInstruction : 1 << instructionShift;
    }

    /// <summary>Host time since the clock was made, in ns.</summary>
    public long HostNowNs => hostNs() - hostStart;

    /// <summary>Attaches the source of retired instructions (the CPU's counter): deterministic time counts them,
    /// host time is paced by them.</summary>
    public void AttachInstructionCounter(Func<long> source)
    {
        long now = NowNs;
        instructionSource = source;
        instructionBase = source();
        accumulatedNs = now;
    }

    /// <summary>Runs <paramref name="resetCounter"/> (a CPU reset, which may restart the instruction counter)
    /// without time running backwards or jumping.</summary>
    public void AcrossCounterReset(Action resetCounter)
    {
        Fold();
        resetCounter();
        if (instructionSource != null) instructionBase = instructionSource();
    }

    private void Fold()
    {
        if (instructionSource == null) return;
        accumulatedNs = NowNs;
        instructionBase = instructionSource();
    }

    public long NowNs
    {
        get
        {
            if (instructionSource == null)
                return Mode == ClockMode.Host ? HostNowNs : accumulatedNs;
            long n = instructionSource() - instructionBase;
            return Mode == ClockMode.Host
                ? accumulatedNs + (long)(n * nsPerInstruction)
                : accumulatedNs + (n << InstructionShift);
        }
    }

    /// <summary>How far guest time is behind the host clock (negative: ahead). Host mode.</summary>
    public long LagNs => HostNowNs - NowNs;

    /// <summary>Guest ns per retired instruction in the current slice (host mode: the pace).</summary>
    public double NsPerInstruction => nsPerInstruction;

    /// <summary>
    /// Host mode with a counter: starts a CPU slice that ends at <paramref name="deadlineNs"/> or after
    /// <paramref name="maxSliceNs"/> of guest time, choosing the pace from the measured speed and the lag.
    /// Returns the instruction budget, or 0 when guest time is too far ahead and the loop should wait
    /// (<see cref="LagNs"/> says for how long).
    /// </summary>
    public long BeginSlice(long deadlineNs, long maxSliceNs)
    {
        Fold();
        long lag = HostNowNs - accumulatedNs;
        if (lag > MaxLagNs)
        {
            accumulatedNs += lag - MaxLagNs;
            lag = MaxLagNs;
        }
        if (lag < -MaxLeadNs) return 0;
        // At least 1 ns per instruction, so that readings of the clock an instruction apart always differ.
        nsPerInstruction = Math.Max(1, hostNsPerInstruction * Math.Clamp(1 + lag / CatchUpNs, MinPace, MaxPace));
        long span = Math.Clamp(deadlineNs - accumulatedNs, 1, maxSliceNs);
        return Math.Max(1, (long)Math.Ceiling(span / nsPerInstruction));
    }

    /// <summary>Host mode: what a slice cost on the host, for the next slices' pace.</summary>
    public void EndSlice(long instructions, long hostElapsedNs)
    {
        if (instructions < 256 || hostElapsedNs < 5_000) return;
        // One slice moves the estimate by at most 4x either way: a host stall inside a slice is not the
        // emulator's speed (its time becomes lag instead), while a real change of speed (string instructions,
        // decoding new code) is followed within a few slices.
        double measured = Math.Clamp((double)hostElapsedNs / instructions, hostNsPerInstruction / 4, hostNsPerInstruction * 4);
        hostNsPerInstruction = 0.75 * hostNsPerInstruction + 0.25 * measured;
    }

    /// <summary>
    /// Lets time pass without instructions (the CPU is halted): deterministic mode moves to
    /// <paramref name="ns"/>; host mode catches up with the host clock but not beyond <paramref name="ns"/>
    /// (the next timer, which then fires on time rather than late).
    /// </summary>
    public void AdvanceTo(long ns)
    {
        if (Mode == ClockMode.Host && instructionSource == null) return;   // plain host time passes by itself
        Fold();
        long target = Mode == ClockMode.Host ? Math.Min(ns, HostNowNs) : ns;
        if (target > accumulatedNs) accumulatedNs = target;
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
