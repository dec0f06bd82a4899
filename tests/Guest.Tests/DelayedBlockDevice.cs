using System.Diagnostics;
using Qed;

namespace Guest.Tests;

/// <summary>
/// A backend with an injected delay: every read waits <see cref="Delay"/> on the thread pool before the real
/// image (a QED file) serves it. Records, per read, the guest instruction count when the device asked for it
/// and the host time when it completed, so a test can place the completion against what the guest did.
/// </summary>
public sealed class DelayedBlockDevice(IBlockDevice inner, TimeSpan delay, Func<long> instructionCount) : IBlockDevice
{
    public sealed record ReadRecord(long Offset, int Length, long InstructionsAtSubmit, long SubmittedAt)
    {
        /// <summary>Stopwatch timestamp after the data was in the guest's buffer (0 while in flight).</summary>
        public long CompletedAt { get; set; }
    }

    readonly List<ReadRecord> _reads = [];
    public TimeSpan Delay => delay;

    public IReadOnlyList<ReadRecord> Reads { get { lock (_reads) return [.. _reads]; } }

    public long Size => inner.Size;
    public bool IsReadOnly => inner.IsReadOnly;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var record = new ReadRecord(offset, buffer.Length, instructionCount(), Stopwatch.GetTimestamp());
        lock (_reads) _reads.Add(record);
        return new ValueTask(ReadLater(record, offset, buffer, cancellationToken));
    }

    async Task ReadLater(ReadRecord record, long offset, Memory<byte> buffer, CancellationToken ct)
    {
        await Task.Delay(delay, ct).ConfigureAwait(false);
        await inner.ReadAsync(offset, buffer, ct).ConfigureAwait(false);
        lock (_reads) record.CompletedAt = Stopwatch.GetTimestamp();
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.WriteAsync(offset, buffer, cancellationToken);
    public ValueTask WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken = default) =>
        inner.WriteZeroesAsync(offset, length, cancellationToken);
    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default) =>
        inner.DiscardAsync(offset, length, cancellationToken);
    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
