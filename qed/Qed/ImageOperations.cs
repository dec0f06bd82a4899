namespace Qed;

/// <summary>Whole-image operations built on the block interface: commit, rebase, resize.</summary>
public static class ImageOperations
{
    private const int ChunkSize = 2 << 20;
    private const int SectorSize = 512;

    /// <summary>
    /// Copies everything <paramref name="top"/> stores (data, and zero clusters as zeros) into its backing
    /// image, growing the backing image if it is smaller (qemu-img commit). The top image keeps its
    /// data: QED cannot be emptied, as in QEMU.
    /// </summary>
    public static async Task CommitAsync(QedImage top, IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var backing = top.Backing ?? throw new ImageException("Image does not have a backing file");
        if (backing.IsReadOnly) throw new ImageException("The backing file is opened read-only");
        if (backing.Size < top.Size) await ResizeAsync(backing, top.Size, allowShrink: false, ct).ConfigureAwait(false);
        var buffer = new byte[ChunkSize];
        for (long pos = 0; pos < top.Size;)
        {
            var st = await top.GetBlockStatusAsync(pos, Math.Min(ChunkSize, top.Size - pos), ct).ConfigureAwait(false);
            switch (st.Kind)
            {
                case BlockStatusKind.Data:
                    var part = buffer.AsMemory(0, (int)st.Length);
                    await top.ReadAsync(pos, part, ct).ConfigureAwait(false);
                    await backing.WriteAsync(pos, part, ct).ConfigureAwait(false);
                    break;
                case BlockStatusKind.Zero:
                    await backing.WriteZeroesAsync(pos, st.Length, ct).ConfigureAwait(false);
                    break;
            }
            pos += st.Length;
            progress?.Report(100.0 * pos / top.Size);
        }
        await backing.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Points <paramref name="top"/> at a new backing file (or none). In safe mode, first copies into the
    /// top image every sector, not stored in it, whose content differs between the old and the new
    /// backing chain, so the guest sees the same disk afterwards (qemu-img rebase). Unsafe mode only
    /// rewrites the header (-u).
    /// </summary>
    public static async Task RebaseAsync(QedImage top, string? newBacking, string? newFormat, bool safe,
        IProgress<double>? progress = null, CancellationToken ct = default)
    {
        if (safe)
        {
            IBlockDevice? target = null;
            if (newBacking is not null)
            {
                string path = QedImage.ResolveBackingPath(top.Path, newBacking);
                try
                {
                    target = await ImageOpener.OpenAsync(path, newFormat, new QedOpenOptions { ReadOnly = true }, ct).ConfigureAwait(false);
                }
                catch (ImageException e)
                {
                    throw new ImageException($"Could not open new backing file '{path}': {e.Message}", e);
                }
            }
            try
            {
                await CopyDifferencesAsync(top, top.Backing, target, progress, ct).ConfigureAwait(false);
            }
            finally
            {
                if (target is not null) await target.DisposeAsync().ConfigureAwait(false);
            }
            await top.FlushAsync(ct).ConfigureAwait(false);
        }
        await top.ChangeBackingFileAsync(newBacking, newFormat, ct).ConfigureAwait(false);
    }

    private static async Task CopyDifferencesAsync(QedImage top, IBlockDevice? oldBacking, IBlockDevice? newBacking,
        IProgress<double>? progress, CancellationToken ct)
    {
        var oldBuf = new byte[ChunkSize];
        var newBuf = new byte[ChunkSize];
        for (long pos = 0; pos < top.Size;)
        {
            var st = await top.GetBlockStatusAsync(pos, Math.Min(ChunkSize, top.Size - pos), ct).ConfigureAwait(false);
            long n = st.Length;
            if (st.Kind == BlockStatusKind.Unallocated)
            {
                var oldPart = oldBuf.AsMemory(0, (int)n);
                var newPart = newBuf.AsMemory(0, (int)n);
                await ReadOrZerosAsync(oldBacking, pos, oldPart, ct).ConfigureAwait(false);
                await ReadOrZerosAsync(newBacking, pos, newPart, ct).ConfigureAwait(false);
                // Write only the runs of 512-byte sectors that differ, as qemu-img does.
                for (int i = 0; i < n;)
                {
                    int len = (int)Math.Min(SectorSize, n - i);
                    if (oldPart.Span.Slice(i, len).SequenceEqual(newPart.Span.Slice(i, len)))
                    {
                        i += len;
                        continue;
                    }
                    int start = i;
                    while (i < n)
                    {
                        len = (int)Math.Min(SectorSize, n - i);
                        if (oldPart.Span.Slice(i, len).SequenceEqual(newPart.Span.Slice(i, len))) break;
                        i += len;
                    }
                    await top.WriteAsync(pos + start, oldPart[start..i], ct).ConfigureAwait(false);
                }
            }
            pos += n;
            progress?.Report(100.0 * pos / top.Size);
        }
    }

    private static ValueTask ReadOrZerosAsync(IBlockDevice? device, long pos, Memory<byte> buffer, CancellationToken ct)
    {
        if (device is null || pos >= device.Size)
        {
            buffer.Span.Clear();
            return ValueTask.CompletedTask;
        }
        int inside = (int)Math.Min(buffer.Length, device.Size - pos);
        buffer.Span[inside..].Clear();
        return device.ReadAsync(pos, buffer[..inside], ct);
    }

    /// <summary>Resizes a QED image (grow only) or a raw image (shrinking only with <paramref name="allowShrink"/>).</summary>
    public static Task ResizeAsync(IBlockDevice device, long newSize, bool allowShrink, CancellationToken ct = default) => device switch
    {
        QedImage q => q.ResizeAsync(newSize, ct),
        RawImage r => r.ResizeAsync(newSize, allowShrink, ct),
        _ => throw new ImageException("This image format does not support resize"),
    };
}
