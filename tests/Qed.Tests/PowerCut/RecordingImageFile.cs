using Qed.Storage;

namespace Qed.Tests.PowerCut;

/// <summary>
/// The image file under the QED engine in the power-cut simulation: an in-memory file that logs every
/// write, length change and flush in the order the "disk" applied them, and can materialise the file a
/// power cut after any prefix of that log would leave (<see cref="Materialize"/>).
/// </summary>
/// <remarks>
/// With <see cref="AsyncPercent"/> above zero, that share of operations completes later on a pool thread,
/// so requests the engine has in flight together reach the disk in either order, as on a real one. An
/// operation is logged when it is applied, which is when it completes: a flush covers exactly the
/// writes logged before it. The initial content (an image a previous session left) counts as durable.
/// </remarks>
public sealed class RecordingImageFile : IImageFile
{
    public enum OpKind : byte { Write, SetLength, Flush }

    public readonly record struct Op(OpKind Kind, long Offset, byte[]? Data, long Length);

    private readonly object _lock = new();
    private readonly List<Op> _log = new();
    private readonly byte[] _initial;
    private readonly Random _rng;
    private byte[] _data;
    private long _length;

    public RecordingImageFile(string path, byte[]? initial = null, int seed = 0, int asyncPercent = 0)
    {
        Path = path;
        _initial = initial ?? [];
        _data = (byte[])_initial.Clone();
        _length = _initial.Length;
        _rng = new Random(seed);
        AsyncPercent = asyncPercent;
    }

    public string Path { get; }
    public bool IsReadOnly => false;
    /// <summary>Percent of operations that complete asynchronously (0: all complete before returning).</summary>
    public int AsyncPercent { get; set; }

    /// <summary>Operations logged so far: a cut point is any value from 0 to this.</summary>
    public int LogLength
    {
        get { lock (_lock) return _log.Count; }
    }

    public Op this[int index]
    {
        get { lock (_lock) return _log[index]; }
    }

    public long GetLength()
    {
        lock (_lock) return _length;
    }

    /// <summary>The file's bytes now (what an orderly shutdown would leave).</summary>
    public byte[] ToArray()
    {
        lock (_lock) return _data.AsSpan(0, (int)_length).ToArray();
    }

    private bool Later()
    {
        if (AsyncPercent <= 0) return false;
        lock (_lock) return _rng.Next(100) < AsyncPercent;
    }

    public ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset), offset, "negative file offset");
        if (Later()) return new ValueTask<int>(Task.Run(() => Read(offset, buffer)));
        return new ValueTask<int>(Read(offset, buffer));
    }

    private int Read(long offset, Memory<byte> buffer)
    {
        lock (_lock)
        {
            int n = (int)Math.Clamp(_length - offset, 0, buffer.Length);
            if (n > 0) _data.AsSpan((int)offset, n).CopyTo(buffer.Span);
            return n;
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset), offset, "negative file offset");
        if (Later())
        {
            // The engine may reuse its buffer once the write completes, not before: copy at apply time.
            return new ValueTask(Task.Run(() => Write(offset, buffer)));
        }
        Write(offset, buffer);
        return ValueTask.CompletedTask;
    }

    private void Write(long offset, ReadOnlyMemory<byte> buffer)
    {
        lock (_lock)
        {
            Apply(ref _data, ref _length, offset, buffer.Span);
            _log.Add(new Op(OpKind.Write, offset, buffer.ToArray(), 0));
        }
    }

    public ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), length, "negative file length");
        if (Later()) return new ValueTask(Task.Run(() => SetLength(length)));
        SetLength(length);
        return ValueTask.CompletedTask;
    }

    private void SetLength(long length)
    {
        lock (_lock)
        {
            Resize(ref _data, ref _length, length);
            _log.Add(new Op(OpKind.SetLength, 0, null, length));
        }
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        if (Later()) return new ValueTask(Task.Run(Flush));
        Flush();
        return ValueTask.CompletedTask;
    }

    private void Flush()
    {
        lock (_lock) _log.Add(new Op(OpKind.Flush, 0, null, 0));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// The bytes a power cut after the first <paramref name="cut"/> logged operations could leave:
    /// everything before the last flush in that prefix, and of the operations after that flush any
    /// subset chosen by <paramref name="rng"/>, applied in log order. Each write is torn into 512-byte
    /// pieces kept or lost independently; a write that extends the file may extend it even where its
    /// data is lost (the size reached the disk, the data did not); each length change is kept or lost.
    /// A piece of a write that is kept extends the file to its end, as it would on a real file system.
    /// </summary>
    public byte[] Materialize(int cut, Random rng, DurablePrefix? prefix = null)
    {
        lock (_lock)
        {
            if (cut < 0 || cut > _log.Count) throw new ArgumentOutOfRangeException(nameof(cut));
            int lastFlush = -1;
            for (int i = cut - 1; i >= 0; i--)
                if (_log[i].Kind == OpKind.Flush) { lastFlush = i; break; }
            prefix ??= new DurablePrefix(this);
            var (data, length) = prefix.Through(lastFlush);
            // How likely each piece is to survive, drawn per cut: half and half, most, or all of the
            // writes, with half, none or all of the length changes. Keeping every write and losing every
            // length change is the cut that shows a table entry reaching the disk before the length
            // covering its cluster.
            int keepWrite = new[] { 50, 50, 90, 100 }[rng.Next(4)];
            int keepLength = new[] { 50, 50, 0, 100 }[rng.Next(4)];
            for (int i = lastFlush + 1; i < cut; i++)
            {
                var op = _log[i];
                switch (op.Kind)
                {
                    case OpKind.SetLength:
                        if (rng.Next(100) < keepLength) Resize(ref data, ref length, op.Length);
                        break;
                    case OpKind.Write:
                        long end = op.Offset + op.Data!.Length;
                        if (end > length && rng.Next(100) < keepLength / 2) Resize(ref data, ref length, end);
                        for (int p = 0; p < op.Data.Length; p += 512)
                            if (rng.Next(100) < keepWrite)
                                Apply(ref data, ref length, op.Offset + p, op.Data.AsSpan(p, Math.Min(512, op.Data.Length - p)));
                        break;
                }
            }
            return data.AsSpan(0, (int)length).ToArray();
        }
    }

    /// <summary>
    /// The durable file through a flush, built incrementally: cuts materialised in increasing order
    /// replay each logged operation once instead of the whole log per cut.
    /// </summary>
    public sealed class DurablePrefix(RecordingImageFile file)
    {
        private byte[] _data = (byte[])file._initial.Clone();
        private long _length = file._initial.Length;
        private int _applied;   // log entries [0, _applied) are in _data

        /// <summary>A private copy of the file with log entries [0, <paramref name="flushIndex"/>) applied.</summary>
        public (byte[] Data, long Length) Through(int flushIndex)
        {
            int upTo = Math.Max(flushIndex, 0);
            if (upTo < _applied)
            {
                _data = (byte[])file._initial.Clone();
                _length = file._initial.Length;
                _applied = 0;
            }
            for (; _applied < upTo; _applied++)
            {
                var op = file._log[_applied];
                if (op.Kind == OpKind.Write) Apply(ref _data, ref _length, op.Offset, op.Data);
                else if (op.Kind == OpKind.SetLength) Resize(ref _data, ref _length, op.Length);
            }
            var copy = new byte[Math.Max(_length, 0)];
            _data.AsSpan(0, (int)_length).CopyTo(copy);
            return (copy, _length);
        }
    }

    private static void Apply(ref byte[] data, ref long length, long offset, ReadOnlySpan<byte> bytes)
    {
        if (offset + bytes.Length > length) Resize(ref data, ref length, offset + bytes.Length);
        bytes.CopyTo(data.AsSpan((int)offset));
    }

    private static void Resize(ref byte[] data, ref long length, long newLength)
    {
        if (newLength > int.MaxValue / 2) throw new InvalidOperationException($"the simulated file would grow to {newLength} bytes");
        if (newLength > data.Length) Array.Resize(ref data, (int)Math.Max(newLength, Math.Min(data.Length * 2L, int.MaxValue / 2)));
        if (newLength < length) data.AsSpan((int)newLength, (int)(length - newLength)).Clear();
        else if (newLength > length) data.AsSpan((int)length, (int)(newLength - length)).Clear();
        length = newLength;
    }
}
