using Microsoft.Win32.SafeHandles;

namespace Qed.Storage;

/// <summary>
/// An image file on the host whose operations run on the caller's thread and are complete when they
/// return (pread/pwrite/fsync/ftruncate called directly). An image over such files never hands work to
/// the thread pool, so its requests, timers and metadata writes happen in the caller's order: the
/// emulator's deterministic mode uses it so that two runs do the same host I/O in the same order.
/// </summary>
public sealed class SynchronousHostImageFile : IImageFile
{
    private readonly SafeFileHandle _handle;

    private SynchronousHostImageFile(SafeFileHandle handle, string path, bool readOnly)
    {
        _handle = handle;
        Path = path;
        IsReadOnly = readOnly;
    }

    public string Path { get; }
    public bool IsReadOnly { get; }

    /// <summary>Opens an existing file; the error names the file and what the host said.</summary>
    public static SynchronousHostImageFile Open(string path, bool readOnly)
    {
        try
        {
            if (Directory.Exists(path))
                throw new ImageException($"Could not open '{path}': Is a directory");
            var handle = File.OpenHandle(path, FileMode.Open,
                readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                readOnly ? FileShare.ReadWrite : FileShare.Read);
            return new SynchronousHostImageFile(handle, path, readOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ImageException($"Could not open '{path}': {HostImageFile.Describe(e)}", e);
        }
    }

    public long GetLength()
    {
        try { return RandomAccess.GetLength(_handle); }
        catch (IOException e) { throw new BlockIOException($"{Path}: cannot get the file length: {e.Message}", e); }
    }

    public ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return new ValueTask<int>(ReadCore(offset, buffer.Span));
        }
        catch (BlockIOException e)
        {
            return ValueTask.FromException<int>(e);
        }
    }

    public ValueTask ReadFullAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            int done = ReadCore(offset, buffer.Span);
            if (done < buffer.Length) buffer.Span[done..].Clear();
            return ValueTask.CompletedTask;
        }
        catch (BlockIOException e)
        {
            return ValueTask.FromException(e);
        }
    }

    private int ReadCore(long offset, Span<byte> buffer)
    {
        int done = 0;
        try
        {
            while (done < buffer.Length)
            {
                int n = RandomAccess.Read(_handle, buffer[done..], offset + done);
                if (n == 0) break;
                done += n;
            }
        }
        catch (IOException e)
        {
            throw new BlockIOException($"{Path}: read of {buffer.Length} bytes at {offset} failed: {e.Message}", e);
        }
        return done;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            RandomAccess.Write(_handle, buffer.Span, offset);
            return ValueTask.CompletedTask;
        }
        catch (IOException e)
        {
            return ValueTask.FromException(new BlockIOException($"{Path}: write of {buffer.Length} bytes at {offset} failed: {e.Message}", e));
        }
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        if (IsReadOnly) return ValueTask.CompletedTask;
        try
        {
            RandomAccess.FlushToDisk(_handle);
            return ValueTask.CompletedTask;
        }
        catch (IOException e)
        {
            return ValueTask.FromException(new BlockIOException($"{Path}: flush failed: {e.Message}", e));
        }
    }

    public ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        try
        {
            RandomAccess.SetLength(_handle, length);
            return ValueTask.CompletedTask;
        }
        catch (IOException e)
        {
            return ValueTask.FromException(new BlockIOException($"{Path}: cannot set the length to {length}: {e.Message}", e));
        }
    }

    /// <summary>Bytes the host has allocated to the file (st_blocks × 512).</summary>
    public long GetAllocatedBytes() => HostFileInfo.AllocatedBytes(_handle, Path);

    public ValueTask DisposeAsync()
    {
        _handle.Dispose();
        return ValueTask.CompletedTask;
    }
}
