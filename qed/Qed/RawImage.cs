using Qed.Storage;

namespace Qed;

/// <summary>
/// A raw image: the guest disk is the file, byte for byte. Its size is the file length rounded up to
/// 512 bytes (as QEMU's raw driver reports it); bytes past the end of the file read as zeros.
/// </summary>
public sealed class RawImage : IBlockDevice, IBlockStatusSource
{
    private static readonly byte[] ZeroBuffer = new byte[1 << 20];
    private readonly IImageFile _file;
    private readonly bool _readOnly;
    private long _size;
    private bool _disposed;
    private volatile bool _written;

    public RawImage(IImageFile file, bool readOnly)
    {
        _file = file;
        _readOnly = readOnly || file.IsReadOnly;
        _size = (file.GetLength() + 511) & ~511L;
    }

    public static RawImage Open(string path, bool readOnly) => new(HostImageFile.Open(path, readOnly), readOnly);

    /// <summary>Creates (or truncates) a raw file of <paramref name="size"/> bytes, sparse.</summary>
    public static async Task CreateAsync(string path, long size, CancellationToken ct = default)
    {
        if (size < 0) throw new ImageException("Image size must not be negative");
        var file = HostImageFile.Create(path);
        await using (file.ConfigureAwait(false))
        {
            await file.SetLengthAsync((size + 511) & ~511L, ct).ConfigureAwait(false);
            await file.FlushAsync(ct).ConfigureAwait(false);
        }
    }

    public long Size => _size;
    public bool IsReadOnly => _readOnly;
    public string Path => _file.Path;
    public IBlockDevice? Backing => null;
    public long FileLength => _file.GetLength();
    public long AllocatedFileBytes => _file is HostImageFile h ? h.GetAllocatedBytes() : _file.GetLength();

    private void CheckRange(long offset, long length)
    {
        if (_disposed) throw new BlockIOException($"{Path}: the image is closed");
        if (offset < 0 || length < 0 || offset > _size - length)
            throw new BlockIOException($"{Path}: request at offset {offset} of {length} bytes lies outside the {_size}-byte disk");
    }

    private void CheckWritable()
    {
        if (_readOnly) throw new BlockIOException($"{Path}: the image is opened read-only");
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            CheckRange(offset, buffer.Length);
        }
        catch (ImageException e)
        {
            return ValueTask.FromException(e);
        }
        return _file.ReadFullAsync(offset, buffer, cancellationToken);
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            CheckRange(offset, buffer.Length);
            CheckWritable();
        }
        catch (ImageException e)
        {
            return ValueTask.FromException(e);
        }
        _written = true;
        return _file.WriteAsync(offset, buffer, cancellationToken);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, length);
        CheckWritable();
        long end = offset + length;
        // Past the end of the file the disk already reads as zeros.
        end = Math.Min(end, _file.GetLength());
        _written = true;
        for (long pos = offset; pos < end;)
        {
            int n = (int)Math.Min(end - pos, ZeroBuffer.Length);
            await _file.WriteAsync(pos, ZeroBuffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            pos += n;
        }
    }

    /// <summary>Accepted and ignored (QEMU's default, discard=ignore).</summary>
    public ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        try
        {
            CheckRange(offset, length);
            CheckWritable();
        }
        catch (ImageException e)
        {
            return ValueTask.FromException(e);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken cancellationToken = default) =>
        _readOnly ? ValueTask.CompletedTask : _file.FlushAsync(cancellationToken);

    /// <summary>Sets the size; shrinking needs <paramref name="allowShrink"/> (qemu-img resize --shrink).</summary>
    public async Task ResizeAsync(long newSize, bool allowShrink, CancellationToken ct = default)
    {
        CheckWritable();
        if (newSize < 0) throw new ImageException("Image size must not be negative");
        if (newSize < _size && !allowShrink)
            throw new ImageException("Use the --shrink option to perform a shrink operation.");
        await _file.SetLengthAsync(newSize, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        _size = (newSize + 511) & ~511L;
    }

    /// <summary>Data or hole, from the host's sparse-file information (as QEMU's file driver reports it).</summary>
    public ValueTask<BlockStatus> GetBlockStatusAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, length);
        if (_file is not HostImageFile host)
            return new ValueTask<BlockStatus>(new BlockStatus(BlockStatusKind.Data, length, offset, Path));
        long fileLength = host.GetLength();
        long data = host.SeekData(offset, hole: false);
        // No data from here to the end of the file: the rest of the request is zeros.
        if (offset >= fileLength || data >= fileLength)
            return new ValueTask<BlockStatus>(new BlockStatus(BlockStatusKind.Zero, length, offset, Path));
        if (data > offset)
            return new ValueTask<BlockStatus>(new BlockStatus(BlockStatusKind.Zero, Math.Min(length, data - offset), offset, Path));
        long hole = host.SeekData(offset, hole: true);
        long n = Math.Min(length, (Math.Max(hole, offset + 1) - offset + 511) & ~511L);
        return new ValueTask<BlockStatus>(new BlockStatus(BlockStatusKind.Data, n, offset, Path));
    }

    /// <summary>Flushes what was written (as QEMU does when it closes an image) and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            if (_written && !_readOnly) await _file.FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            await _file.DisposeAsync().ConfigureAwait(false);
        }
    }
}
