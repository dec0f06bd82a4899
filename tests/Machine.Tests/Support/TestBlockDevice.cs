using Qed;

namespace Machine.Tests.Support;

/// <summary>
/// An in-memory disk for device tests. Operations complete synchronously by default; with <see cref="Delay"/>
/// they complete later on a thread-pool thread; with <see cref="Hold"/> they wait until <see cref="Release"/>.
/// Records what was asked of it.
/// </summary>
public sealed class TestBlockDevice : IBlockDevice
{
    private readonly object sync = new();
    private TaskCompletionSource gate = NewGate(open: true);

    public byte[] Data { get; }
    public long Size => Data.Length;
    public bool IsReadOnly { get; init; }
    public TimeSpan Delay { get; set; }
    public int Reads, Writes, Flushes, Discards, WriteZeroes;
    public int CompletionThreadId { get; private set; }
    /// <summary>Stopwatch timestamp of the last asynchronous completion.</summary>
    public long CompletedAt { get; private set; }
    public readonly List<(string Op, long Offset, long Length)> Log = new();
    /// <summary>When set, the next operation fails with a <see cref="BlockIOException"/>.</summary>
    public bool FailNext { get; set; }
    public bool Disposed { get; private set; }

    public TestBlockDevice(long size)
    {
        Data = new byte[size];
    }

    private static TaskCompletionSource NewGate(bool open)
    {
        var t = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open) t.SetResult();
        return t;
    }

    /// <summary>From now on, operations wait until <see cref="Release"/>.</summary>
    public void Hold()
    {
        lock (sync) gate = NewGate(open: false);
    }

    public void Release()
    {
        lock (sync) gate.TrySetResult();
    }

    private int inFlight;
    public int InFlight => Volatile.Read(ref inFlight);

    private ValueTask Run(string op, long offset, long length, Action action)
    {
        lock (sync) Log.Add((op, offset, length));
        if (FailNext)
        {
            FailNext = false;
            return ValueTask.FromException(new BlockIOException($"injected failure of {op} at {offset}"));
        }
        Task g;
        lock (sync) g = gate.Task;
        if (Delay == TimeSpan.Zero && g.IsCompleted)
        {
            action();
            return ValueTask.CompletedTask;
        }
        Interlocked.Increment(ref inFlight);
        return new ValueTask(Later(g, action));
    }

    private async Task Later(Task g, Action action)
    {
        await g.ConfigureAwait(false);
        if (Delay > TimeSpan.Zero) await Task.Delay(Delay).ConfigureAwait(false);
        else await Task.Yield();
        lock (sync) action();
        CompletionThreadId = Environment.CurrentManagedThreadId;
        CompletedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        Interlocked.Decrement(ref inFlight);
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Reads);
        if (offset < 0 || offset + buffer.Length > Size) return ValueTask.FromException(new BlockIOException("read past the end"));
        return Run("read", offset, buffer.Length, () => Data.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span));
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Writes);
        if (IsReadOnly) return ValueTask.FromException(new BlockIOException("read-only"));
        if (offset < 0 || offset + buffer.Length > Size) return ValueTask.FromException(new BlockIOException("write past the end"));
        return Run("write", offset, buffer.Length, () => buffer.Span.CopyTo(Data.AsSpan((int)offset)));
    }

    public ValueTask WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref WriteZeroes);
        return Run("write-zeroes", offset, length, () => Data.AsSpan((int)offset, (int)length).Clear());
    }

    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Discards);
        return Run("discard", offset, length, () => { });
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Flushes);
        return Run("flush", 0, 0, () => { });
    }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ValueTask.CompletedTask;
    }
}
