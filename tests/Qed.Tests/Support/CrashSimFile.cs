namespace Qed.Tests.Support;

/// <summary>
/// A file that logs every write, length change and flush, so a power cut can be simulated at any
/// point of the log: everything before the last flush before the cut is durable; of the writes issued
/// after it, any subset survives, each torn into independent 512-byte pieces, and so does any subset
/// of the length changes.
/// </summary>
public sealed class CrashSimFile : MemoryImageFile
{
    private enum Op { Write, SetLength, Flush }

    private readonly List<(Op Kind, long Offset, byte[]? Data, long Length)> _log = new();

    public CrashSimFile(string path) : base(path) { }

    /// <summary>Number of operations logged so far (a cut point is any value from 0 to this).</summary>
    public int LogLength
    {
        get { lock (this) return _log.Count; }
    }

    public override ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (this)
        {
            Apply(offset, buffer.Span);
            _log.Add((Op.Write, offset, buffer.ToArray(), 0));
        }
        return ValueTask.CompletedTask;
    }

    public override ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        lock (this)
        {
            Resize(length);
            _log.Add((Op.SetLength, 0, null, length));
        }
        return ValueTask.CompletedTask;
    }

    public override ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        lock (this) _log.Add((Op.Flush, 0, null, 0));
        return base.FlushAsync(cancellationToken);
    }

    /// <summary>The bytes a power cut after the first <paramref name="cut"/> logged operations could leave.</summary>
    public byte[] CrashAt(int cut, Random rng)
    {
        lock (this)
        {
            int lastFlush = -1;
            for (int i = 0; i < cut; i++)
                if (_log[i].Kind == Op.Flush) lastFlush = i;
            var file = new MemoryImageFile(Path);
            for (int i = 0; i < cut; i++)
            {
                var (kind, offset, data, length) = _log[i];
                bool durable = i < lastFlush;
                switch (kind)
                {
                    case Op.SetLength:
                        if (durable || rng.Next(2) == 0) file.SetLengthAsync(length);
                        break;
                    case Op.Write:
                        for (int p = 0; p < data!.Length; p += 512)
                            if (durable || rng.Next(2) == 0)
                                file.WriteAsync(offset + p, data.AsMemory(p, Math.Min(512, data.Length - p)));
                        break;
                }
            }
            return file.ToArray();
        }
    }
}
