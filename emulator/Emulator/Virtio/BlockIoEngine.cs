using System.Diagnostics;
using Emulator.Machine;
using Qed;

namespace Emulator.Virtio;

/// <summary>Operations the engine submits to an <see cref="IBlockDevice"/>.</summary>
public enum BlockOp : byte { Read, Write, Flush, Discard, WriteZeroes }

/// <summary>One finished request, for tracing: what, where, and when on the virtual and host clocks.</summary>
public readonly record struct BlockRequestTrace(
    BlockOp Op, long Offset, long Length,
    long SubmitVirtualNs, long CompleteVirtualNs,
    long SubmitHostTicks, long CompleteHostTicks,
    bool Succeeded);

/// <summary>
/// A request as the engine sees it. Devices derive their pooled request objects from it; the engine never
/// allocates per request. Completion comes back through <see cref="ILoopWork.Execute"/> on the loop thread.
/// </summary>
public abstract class BlockIoRequest : ILoopWork
{
    internal BlockIoEngine? Engine;
    internal ValueTask Pending;
    internal bool HostDone, DueReached;
    internal DeviceTimer? DueTimer;
    internal Func<bool>? IsHostDone;
    internal readonly Action HostCallback;
    internal long SubmitVirtualNs, SubmitHostTicks, CompleteHostTicks;

    public BlockOp Op;
    public long Offset;
    /// <summary>Bytes covered (reads and writes: the bounce buffer's used length).</summary>
    public long Length;
    /// <summary>Bounce buffer for reads and writes (pooled by the device).</summary>
    public byte[]? Buffer;
    /// <summary>Set when the backend reported failure: its one-line message.</summary>
    public string? Error;

    protected BlockIoRequest()
    {
        // Runs on a thread-pool thread: only hand the request to the loop.
        HostCallback = () =>
        {
            CompleteHostTicks = Stopwatch.GetTimestamp();
            Engine!.Loop.Post(this);
        };
    }

    /// <summary>True when the device was reset after submission: the result is dropped.</summary>
    protected internal abstract bool Abandoned { get; }

    /// <summary>Loop thread: the request is complete (at its virtual completion time).</summary>
    protected internal abstract void Completed(bool succeeded);

    void ILoopWork.Execute() => Engine!.HostCompleted(this);
}

/// <summary>
/// Submits block requests to the storage backend and brings their completions back to the event loop
/// (Firecracker's split: a submission is either "done now" or "submitted", and submitted work finishes through
/// the loop). The guest keeps running while requests are in flight. In the deterministic clock mode every
/// request completes at a modelled virtual time (<see cref="LatencyNs"/>); if the host is slower, the loop
/// waits for it at that time, so the guest never sees host timing.
/// </summary>
public sealed class BlockIoEngine
{
    private readonly IBlockDevice backend;
    private readonly EventLoop loop;
    private readonly bool deterministic;
    private readonly List<BlockIoRequest> inFlight = new();
    private bool draining;

    public EventLoop Loop => loop;
    public IBlockDevice Backend => backend;
    public int InFlight { get; private set; }
    public long InFlightBytes { get; private set; }

    /// <summary>Called for every finished request (loop thread).</summary>
    public Action<BlockRequestTrace>? Trace { get; set; }

    public Action<string>? Warning { get; set; }

    /// <summary>Deterministic mode: virtual latency of a request. Default: 50 us plus 5 ns per byte (200 MB/s);
    /// a flush costs 200 us.</summary>
    public Func<BlockOp, long, long> LatencyNs { get; set; } = static (op, length) => op switch
    {
        BlockOp.Flush => 200_000,
        BlockOp.Read or BlockOp.Write => 50_000 + length * 5,
        _ => 50_000,
    };

    public BlockIoEngine(IBlockDevice backend, EventLoop loop)
    {
        this.backend = backend;
        this.loop = loop;
        deterministic = loop.Clock.Mode == ClockMode.Deterministic;
    }

    /// <summary>Starts a request; it completes through <see cref="BlockIoRequest.Completed"/>, possibly before
    /// this returns.</summary>
    public void Submit(BlockIoRequest r)
    {
        r.Engine = this;
        r.Error = null;
        r.HostDone = false;
        r.DueReached = !deterministic || draining;
        r.SubmitVirtualNs = loop.Clock.NowNs;
        r.SubmitHostTicks = Stopwatch.GetTimestamp();
        InFlight++;
        inFlight.Add(r);
        InFlightBytes += r.Op is BlockOp.Read or BlockOp.Write ? r.Length : 0;
        if (!r.DueReached)
            (r.DueTimer ?? CreateDueTimer(r)).Arm(r.SubmitVirtualNs + LatencyNs(r.Op, r.Length));
        ValueTask task;
        try
        {
            task = r.Op switch
            {
                BlockOp.Read => backend.ReadAsync(r.Offset, r.Buffer.AsMemory(0, (int)r.Length)),
                BlockOp.Write => backend.WriteAsync(r.Offset, r.Buffer.AsMemory(0, (int)r.Length)),
                BlockOp.Flush => backend.FlushAsync(),
                BlockOp.Discard => backend.DiscardAsync(r.Offset, r.Length),
                _ => backend.WriteZeroesAsync(r.Offset, r.Length),
            };
        }
        catch (Exception e)
        {
            task = ValueTask.FromException(e);
        }
        r.Pending = task;
        if (task.IsCompleted)
        {
            r.CompleteHostTicks = Stopwatch.GetTimestamp();
            HostCompleted(r);
        }
        else task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(r.HostCallback);
    }

    /// <summary>Kept out of <see cref="Submit"/>: a lambda capturing the parameter there would allocate its
    /// closure on every call, even when this branch is not taken.</summary>
    private DeviceTimer CreateDueTimer(BlockIoRequest r) =>
        r.DueTimer = loop.Clock.CreateTimer("block-completion", () => DueTimeReached(r));

    private static Func<bool> CreateHostDoneCheck(BlockIoRequest r) => r.IsHostDone = () => r.HostDone;

    /// <summary>Loop thread: the backend finished the request.</summary>
    internal void HostCompleted(BlockIoRequest r)
    {
        r.HostDone = true;
        try
        {
            r.Pending.GetAwaiter().GetResult();
        }
        catch (ImageException e)
        {
            r.Error = e.Message;
        }
        catch (Exception e)
        {
            r.Error = $"{e.GetType().Name}: {e.Message}";
        }
        r.Pending = default;
        if (r.Error != null) Warning?.Invoke($"disk {r.Op.ToString().ToLowerInvariant()} at byte {r.Offset} failed: {r.Error}");
        if (r.Abandoned)
        {
            r.DueTimer?.Cancel();
            r.DueReached = true;
        }
        if (r.DueReached) Finish(r);
    }

    /// <summary>Deterministic mode: the modelled completion time has come.</summary>
    private void DueTimeReached(BlockIoRequest r)
    {
        r.DueReached = true;
        if (r.HostDone)
        {
            Finish(r);
            return;
        }
        // The host is behind the model: hold virtual time here until it catches up (runs HostCompleted,
        // which finishes the request).
        while (!loop.PumpUntil(r.IsHostDone ?? CreateHostDoneCheck(r), TimeSpan.FromSeconds(30)))
            Warning?.Invoke($"disk {r.Op.ToString().ToLowerInvariant()} at byte {r.Offset} is taking more than 30 s on the host");
    }

    private void Finish(BlockIoRequest r)
    {
        inFlight.Remove(r);
        InFlight--;
        InFlightBytes -= r.Op is BlockOp.Read or BlockOp.Write ? r.Length : 0;
        Trace?.Invoke(new BlockRequestTrace(r.Op, r.Offset, r.Length, r.SubmitVirtualNs, loop.Clock.NowNs,
            r.SubmitHostTicks, r.CompleteHostTicks, r.Error == null));
        r.Completed(r.Error == null);
    }

    /// <summary>After a device reset: requests the host has finished but that wait for their modelled completion
    /// time are dropped now; the others are dropped when the host finishes them.</summary>
    public void AbandonFinished()
    {
        for (int i = inFlight.Count - 1; i >= 0; i--)
        {
            if (i >= inFlight.Count) continue;
            var r = inFlight[i];
            if (!r.HostDone || !r.Abandoned) continue;
            r.DueTimer?.Cancel();
            r.DueReached = true;
            Finish(r);
        }
    }

    /// <summary>Waits (running loop work) until nothing is in flight, e.g. before a machine reset or exit. Requests
    /// stop waiting for their modelled completion times: only the host matters now.</summary>
    public bool Drain(TimeSpan limit)
    {
        if (InFlight == 0) return true;
        draining = true;
        try
        {
            for (int i = inFlight.Count - 1; i >= 0; i--)
            {
                if (i >= inFlight.Count) continue;
                var r = inFlight[i];
                if (r.DueReached) continue;
                r.DueTimer?.Cancel();
                r.DueReached = true;
                if (r.HostDone) Finish(r);
            }
            return loop.PumpUntil(() => InFlight == 0, limit);
        }
        finally
        {
            draining = false;
        }
    }
}
