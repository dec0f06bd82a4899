using Qed.Storage;

namespace Qed;

/// <summary>
/// The image file as the QED engine sees it: every host read and write counted, and reads past the
/// end of the file returned as zeros (a freshly allocated cluster may lie past the current end until
/// the next flush extends the file).
/// </summary>
internal sealed class QedFile
{
    public readonly IImageFile File;
    private readonly QedCounters _counters;

    public QedFile(IImageFile file, QedCounters counters)
    {
        File = file;
        _counters = counters;
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct = default)
    {
        _counters.Increment(Counter.HostReads);
        _counters.Add(Counter.HostBytesRead, buffer.Length);
        return File.ReadFullAsync(offset, buffer, ct);
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        _counters.Increment(Counter.HostWrites);
        _counters.Add(Counter.HostBytesWritten, buffer.Length);
        return File.WriteAsync(offset, buffer, ct);
    }

    public ValueTask FlushAsync(CancellationToken ct = default)
    {
        _counters.Increment(Counter.Flushes);
        return File.FlushAsync(ct);
    }

    public long GetLength() => File.GetLength();

    public ValueTask SetLengthAsync(long length, CancellationToken ct = default) => File.SetLengthAsync(length, ct);
}
