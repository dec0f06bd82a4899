using Qed.Storage;

namespace Qed.Tests.Support;

/// <summary>An image file held in memory (for unit tests and the power-cut simulation).</summary>
public class MemoryImageFile : IImageFile
{
    protected byte[] Data;
    protected long Length;

    public MemoryImageFile(string path, byte[]? content = null, bool readOnly = false)
    {
        Path = path;
        Data = content ?? [];
        Length = Data.Length;
        IsReadOnly = readOnly;
    }

    public string Path { get; }
    public bool IsReadOnly { get; }
    public int Flushes { get; private set; }

    public byte[] ToArray() => Data.AsSpan(0, (int)Length).ToArray();

    public long GetLength()
    {
        lock (this) return Length;
    }

    public virtual ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (this)
        {
            int n = (int)Math.Clamp(Length - offset, 0, buffer.Length);
            Data.AsSpan((int)offset, n).CopyTo(buffer.Span);
            return ValueTask.FromResult(n);
        }
    }

    public virtual ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (IsReadOnly) throw new BlockIOException("read-only file");
        lock (this) Apply(offset, buffer.Span);
        return ValueTask.CompletedTask;
    }

    public virtual ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        lock (this) Flushes++;
        return ValueTask.CompletedTask;
    }

    public virtual ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        lock (this) Resize(length);
        return ValueTask.CompletedTask;
    }

    protected void Apply(long offset, ReadOnlySpan<byte> bytes)
    {
        if (offset + bytes.Length > Length) Resize(offset + bytes.Length);
        bytes.CopyTo(Data.AsSpan((int)offset));
    }

    protected void Resize(long length)
    {
        if (length > Data.Length) Array.Resize(ref Data, (int)Math.Max(length, Data.Length * 2L));
        if (length < Length) Data.AsSpan((int)length, (int)(Length - length)).Clear();
        Length = length;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
