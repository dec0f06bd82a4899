using Qed.Storage;

namespace Benchmarks.Qed;

/// <summary>
/// An image file in memory, kept sparse in 4 KiB pages, whose operations complete at once: the
/// benchmarks measure the engine's own work per request (lookup, tables, bookkeeping), not the host's.
/// </summary>
internal sealed class MemoryFile(string path) : IImageFile
{
    private const int PageSize = 4096;
    private readonly Dictionary<long, byte[]> _pages = new();
    private long _length;

    public string Path { get; } = path;
    public bool IsReadOnly => false;

    public long GetLength()
    {
        lock (_pages) return _length;
    }

    public ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_pages)
        {
            int n = (int)Math.Clamp(_length - offset, 0, buffer.Length);
            var span = buffer.Span[..n];
            for (int done = 0; done < n;)
            {
                long page = (offset + done) / PageSize;
                int inPage = (int)((offset + done) % PageSize);
                int chunk = Math.Min(n - done, PageSize - inPage);
                if (_pages.TryGetValue(page, out var p)) p.AsSpan(inPage, chunk).CopyTo(span[done..]);
                else span.Slice(done, chunk).Clear();
                done += chunk;
            }
            return ValueTask.FromResult(n);
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_pages)
        {
            var span = buffer.Span;
            for (int done = 0; done < span.Length;)
            {
                long page = (offset + done) / PageSize;
                int inPage = (int)((offset + done) % PageSize);
                int chunk = Math.Min(span.Length - done, PageSize - inPage);
                if (!_pages.TryGetValue(page, out var p)) _pages[page] = p = new byte[PageSize];
                span.Slice(done, chunk).CopyTo(p.AsSpan(inPage));
                done += chunk;
            }
            _length = Math.Max(_length, offset + span.Length);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        lock (_pages)
        {
            if (length < _length)
                foreach (var page in _pages.Keys.Where(k => k * PageSize >= length).ToList()) _pages.Remove(page);
            _length = length;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
