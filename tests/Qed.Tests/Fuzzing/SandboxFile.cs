using Qed.Storage;

namespace Qed.Tests.Fuzzing;

/// <summary>
/// An in-memory file for the image fuzzer that polices what the engine does with it: a file that may
/// not be written (a backing file, an image opened read-only) records any write or length change as a
/// violation and refuses it; a writable one records writes and length changes beyond
/// <see cref="Limit"/> (the most a handful of guest writes can justify) and refuses those too, so a
/// table entry near 2^63 cannot make the fuzzer allocate the address space.
/// </summary>
public sealed class SandboxFile : IImageFile
{
    private readonly List<string> _violations;
    private byte[] _data;
    private long _length;

    public SandboxFile(string path, byte[] content, bool writable, long limit, List<string> violations)
    {
        Path = path;
        _data = writable ? (byte[])content.Clone() : content;   // read-only files share the caller's bytes
        _length = content.Length;
        Writable = writable;
        Limit = limit;
        _violations = violations;
    }

    public string Path { get; }
    public bool Writable { get; }
    /// <summary>No byte may be written at or past this offset, and the length may not exceed it.</summary>
    public long Limit { get; }
    public bool IsReadOnly => !Writable;
    public long BytesWritten { get; private set; }
    public int Writes { get; private set; }

    public long GetLength() => _length;

    public byte[] ToArray() => _data.AsSpan(0, (int)_length).ToArray();

    public ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (offset < 0) return ValueTask.FromException<int>(Violation($"read at negative offset {offset} of {Path}"));
        int n = (int)Math.Clamp(_length - offset, 0, buffer.Length);
        if (n > 0) _data.AsSpan((int)offset, n).CopyTo(buffer.Span);
        return ValueTask.FromResult(n);
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!Writable) return ValueTask.FromException(Violation($"wrote {buffer.Length} bytes at {offset} to {Path}, which it must only read"));
        if (offset < 0 || offset + buffer.Length > Limit)
            return ValueTask.FromException(Violation($"wrote {buffer.Length} bytes at {offset} of {Path}, beyond the {Limit} bytes the input justifies"));
        if (offset + buffer.Length > _length) Resize(offset + buffer.Length);
        buffer.Span.CopyTo(_data.AsSpan((int)offset));
        BytesWritten += buffer.Length;
        Writes++;
        return ValueTask.CompletedTask;
    }

    public ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        if (!Writable) return ValueTask.FromException(Violation($"set the length of {Path}, which it must only read, to {length}"));
        if (length < 0 || length > Limit)
            return ValueTask.FromException(Violation($"set the length of {Path} to {length}, beyond the {Limit} bytes the input justifies"));
        Resize(length);
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Resize(long length)
    {
        if (length > _data.Length) Array.Resize(ref _data, (int)Math.Max(length, Math.Min(_data.Length * 2L, Limit)));
        if (length < _length) _data.AsSpan((int)length, (int)(_length - length)).Clear();
        else _data.AsSpan((int)_length, (int)(length - _length)).Clear();
        _length = length;
    }

    /// <summary>Records the violation and returns an I/O error for the engine (which must pass it on as one).</summary>
    private BlockIOException Violation(string what)
    {
        lock (_violations) _violations.Add("the engine " + what);
        return new BlockIOException($"{Path}: refused by the sandbox");
    }
}
