using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;

namespace Qed.Storage;

/// <summary>
/// An image file on the host: positioned I/O through <see cref="RandomAccess"/>, which on Linux runs
/// pread/pwrite on thread-pool threads, so no caller thread ever waits on the disk.
/// </summary>
public sealed class HostImageFile : IImageFile
{
    private readonly SafeFileHandle _handle;

    private HostImageFile(SafeFileHandle handle, string path, bool readOnly)
    {
        _handle = handle;
        Path = path;
        IsReadOnly = readOnly;
    }

    public string Path { get; }
    public bool IsReadOnly { get; }

    /// <summary>Opens an existing file; the error names the file and what the host said.</summary>
    public static HostImageFile Open(string path, bool readOnly)
    {
        try
        {
            if (Directory.Exists(path))
                throw new ImageException($"Could not open '{path}': Is a directory");
            var handle = File.OpenHandle(path, FileMode.Open,
                readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                readOnly ? FileShare.ReadWrite : FileShare.Read, FileOptions.Asynchronous);
            return new HostImageFile(handle, path, readOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ImageException($"Could not open '{path}': {Describe(e)}", e);
        }
    }

    /// <summary>Creates (or truncates) a file for writing.</summary>
    public static HostImageFile Create(string path)
    {
        try
        {
            var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.Read,
                FileOptions.Asynchronous);
            return new HostImageFile(handle, path, false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ImageException($"Could not create '{path}': {Describe(e)}", e);
        }
    }

    internal static string Describe(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "No such file or directory",
        UnauthorizedAccessException => "Permission denied",
        _ => e.Message.TrimEnd('.'),
    };

    public long GetLength()
    {
        try { return RandomAccess.GetLength(_handle); }
        catch (IOException e) { throw new BlockIOException($"{Path}: cannot get the file length: {e.Message}", e); }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int done = 0;
        try
        {
            while (done < buffer.Length)
            {
                int n = await RandomAccess.ReadAsync(_handle, buffer[done..], offset + done, cancellationToken)
                    .ConfigureAwait(false);
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

    /// <summary>One pooled state machine for the whole read, zeros past the end included.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadFullAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int done = 0;
        try
        {
            while (done < buffer.Length)
            {
                int n = await RandomAccess.ReadAsync(_handle, buffer[done..], offset + done, cancellationToken)
                    .ConfigureAwait(false);
                if (n == 0) break;
                done += n;
            }
        }
        catch (IOException e)
        {
            throw new BlockIOException($"{Path}: read of {buffer.Length} bytes at {offset} failed: {e.Message}", e);
        }
        if (done < buffer.Length) buffer.Span[done..].Clear();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            await RandomAccess.WriteAsync(_handle, buffer, offset, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new BlockIOException($"{Path}: write of {buffer.Length} bytes at {offset} failed: {e.Message}", e);
        }
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        if (IsReadOnly) return ValueTask.CompletedTask;
        return new ValueTask(Task.Run(() =>
        {
            try { RandomAccess.FlushToDisk(_handle); }
            catch (IOException e) { throw new BlockIOException($"{Path}: flush failed: {e.Message}", e); }
        }, cancellationToken));
    }

    public ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default)
    {
        return new ValueTask(Task.Run(() =>
        {
            try { RandomAccess.SetLength(_handle, length); }
            catch (IOException e) { throw new BlockIOException($"{Path}: cannot set the length to {length}: {e.Message}", e); }
        }, cancellationToken));
    }

    /// <summary>Bytes the host has allocated to the file (st_blocks × 512), as qemu-img's "disk size".</summary>
    public long GetAllocatedBytes() => HostFileInfo.AllocatedBytes(_handle, Path);

    /// <summary>For raw images: the next data or hole offset at or after <paramref name="offset"/> (SEEK_DATA/SEEK_HOLE).</summary>
    internal long SeekData(long offset, bool hole) => HostFileInfo.Seek(_handle, offset, hole);

    public ValueTask DisposeAsync()
    {
        _handle.Dispose();
        return ValueTask.CompletedTask;
    }
}
