using Qed;
using Qed.Storage;

namespace Machine.Tests.Virtio.Fuzz;

/// <summary>
/// The image file behind the fuzzed disk, in memory: it records every access outside the file's bounds
/// (reads at negative offsets, writes or length changes past <see cref="Limit"/>, or any write when the
/// disk is read-only) as a violation, and can complete operations later on a pool thread so that guest
/// requests are really in flight together.
/// </summary>
public sealed class PolicedImageFile(string path, byte[] content, long limit, bool readOnly, int asyncPercent, int seed) : IImageFile
{
    private readonly object _lock = new();
    private readonly Random _rng = new(seed);
    private byte[] _data = (byte[])content.Clone();
    private long _length = content.Length;

    public readonly List<string> Violations = new();
    public string Path { get; } = path;
    public bool IsReadOnly { get; } = readOnly;
    public long Limit { get; } = limit;

    public long GetLength()
    {
        lock (_lock) return _length;
    }

    public byte[] ToArray()
    {
        lock (_lock) return _data.AsSpan(0, (int)_length).ToArray();
    }

    private bool Later()
    {
        lock (_lock) return asyncPercent > 0 && _rng.Next(100) < asyncPercent;
    }

    private BlockIOException Violation(string what)
    {
        lock (Violations) Violations.Add(what);
        return new BlockIOException($"{Path}: refused by the test ({what})");
    }

    public ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (offset < 0) return ValueTask.FromException<int>(Violation($"read at offset {offset}"));
        int Read()
        {
            lock (_lock)
            {
                int n = (int)Math.Clamp(_length - offset, 0, buffer.Length);
                if (n > 0) _data.AsSpan((int)offset, n).CopyTo(buffer.Span);
                return n;
            }
        }
        return Later() ? new ValueTask<int>(Task.Run(Read)) : new ValueTask<int>(Read());
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (IsReadOnly) return ValueTask.FromException(Violation($"write of {buffer.Length} bytes at {offset} to a read-only disk's file"));
        if (offset < 0 || offset + buffer.Length > Limit)
            return ValueTask.FromException(Violation($"write of {buffer.Length} bytes at {offset}, outside the image's {Limit} bytes"));
        void Write()
        {
            lock (_lock)
            {
                if (offset + buffer.Length > _length) Resize(offset + buffer.Length);
                buffer.Span.CopyTo(_data.AsSpan((int)offset));
            }
        }
        if (Later()) return new ValueTask(Task.Run(Write));
        Write();
        return ValueTask.CompletedTask;
    }

    public ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        if (IsReadOnly) return ValueTask.FromException(Violation($"length change to {length} of a read-only disk's file"));
        if (length < 0 || length > Limit) return ValueTask.FromException(Violation($"length change to {length}, outside the image's {Limit} bytes"));
        lock (_lock) Resize(length);
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) =>
        Later() ? new ValueTask(Task.Run(() => { })) : ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Resize(long length)
    {
        if (length > _data.Length) Array.Resize(ref _data, (int)Math.Max(length, Math.Min(_data.Length * 2L, Limit)));
        if (length < _length) _data.AsSpan((int)length, (int)(_length - length)).Clear();
        else _data.AsSpan((int)_length, (int)(length - _length)).Clear();
        _length = length;
    }
}
