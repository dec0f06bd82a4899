namespace Qed.Tests.Support;

/// <summary>
/// A file that remembers what is durable: everything up to the last completed flush. A simulated
/// power cut keeps any subset of the writes issued since then, each torn into independent 512-byte
/// pieces, and any subset of the length changes.
/// </summary>
public sealed class CrashSimFile : MemoryImageFile
{
    private byte[] _durable;
    private readonly List<(long Offset, byte[]? Data, long NewLength)> _pending = new();

    public CrashSimFile(string path, byte[]? content = null) : base(path, content)
    {
        _durable = ToArray();
    }

    public override ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (this)
        {
            Apply(offset, buffer.Span);
            _pending.Add((offset, buffer.ToArray(), -1));
        }
        return ValueTask.CompletedTask;
    }

    public override ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        lock (this)
        {
            Resize(length);
            _pending.Add((-1, null, length));
        }
        return ValueTask.CompletedTask;
    }

    public override ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        lock (this)
        {
            _durable = ToArray();
            _pending.Clear();
        }
        return base.FlushAsync(cancellationToken);
    }

    /// <summary>The bytes a power cut now could leave on the disk.</summary>
    public byte[] Crash(Random rng)
    {
        lock (this)
        {
            var file = new MemoryImageFile(Path, (byte[])_durable.Clone());
            foreach (var (offset, data, newLength) in _pending)
            {
                if (data is null)
                {
                    if (rng.Next(2) == 0) file.SetLengthAsync(newLength);
                    continue;
                }
                for (int p = 0; p < data.Length; p += 512)
                    if (rng.Next(2) == 0)
                        file.WriteAsync(offset + p, data.AsMemory(p, Math.Min(512, data.Length - p)));
            }
            return file.ToArray();
        }
    }
}
