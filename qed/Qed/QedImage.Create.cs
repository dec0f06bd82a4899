using System.Text;
using Qed.Storage;

namespace Qed;

/// <summary>Parameters of a new QED image (qemu-img create -f qed -o ...).</summary>
public sealed record QedCreateOptions
{
    /// <summary>Guest-visible size in bytes; rounded up to a multiple of 512.</summary>
    public long Size { get; init; }
    public uint ClusterSize { get; init; } = QedHeader.DefaultClusterSize;
    public uint TableSize { get; init; } = QedHeader.DefaultTableSize;
    /// <summary>Backing file name as it will be stored (relative names are resolved against the new image's folder).</summary>
    public string? BackingFile { get; init; }
    /// <summary>Backing format; only "raw" is recorded (as the no-probe bit), any other is probed on open, as in QEMU.</summary>
    public string? BackingFormat { get; init; }
}

/// <summary>Creating, resizing and re-pointing QED images (QEMU bdrv_qed_co_create, _truncate, _change_backing_file).</summary>
public sealed partial class QedImage
{
    /// <summary>
    /// Creates a new image at <paramref name="path"/>, replacing any file there: the header cluster
    /// (with the backing name at byte 64) and an empty L1 table at cluster 1, as qemu-img does.
    /// Geometries QEMU cannot open are refused so that every image made here opens in QEMU.
    /// </summary>
    public static async Task CreateAsync(string path, QedCreateOptions options, CancellationToken ct = default)
    {
        var header = NewHeader(options);
        var file = HostImageFile.Create(path);
        await using (file.ConfigureAwait(false))
            await WriteNewImageAsync(file, header, options.BackingFile, ct).ConfigureAwait(false);
    }

    /// <summary>Writes a fresh image onto <paramref name="file"/> (emptied first).</summary>
    public static async Task CreateAsync(IImageFile file, QedCreateOptions options, CancellationToken ct = default)
    {
        var header = NewHeader(options);
        await WriteNewImageAsync(file, header, options.BackingFile, ct).ConfigureAwait(false);
    }

    private static QedHeader NewHeader(QedCreateOptions o)
    {
        if (!QedHeader.IsClusterSizeValid(o.ClusterSize))
            throw new ImageException($"QED cluster size must be within range [{QedHeader.MinClusterSize}, {QedHeader.MaxClusterSize}] and power of 2");
        if (!QedHeader.IsTableSizeValid(o.TableSize))
            throw new ImageException($"QED table size must be within range [{QedHeader.MinTableSize}, {QedHeader.MaxTableSize}] and power of 2");
        if (o.Size < 0)
            throw new ImageException("Image size must not be negative");
        ulong size = ((ulong)o.Size + 511) & ~511UL;
        ulong qemuMax = QedHeader.QemuMaxImageSize(o.ClusterSize, o.TableSize);
        if (size > qemuMax)
            throw new ImageException(
                $"QED image size must be at most {qemuMax} bytes with cluster_size={o.ClusterSize} and table_size={o.TableSize}");
        var header = new QedHeader
        {
            MagicValue = QedHeader.Magic,
            ClusterSize = o.ClusterSize,
            TableSize = o.TableSize,
            HeaderSize = 1,
            L1TableOffset = o.ClusterSize,
            ImageSize = size,
        };
        if (o.BackingFile is { } name)
        {
            int len = Encoding.UTF8.GetByteCount(name);
            if (len == 0) throw new ImageException("The backing file name is empty");
            if (len > Math.Min(QedHeader.MaxBackingNameLength, o.ClusterSize - QedHeader.Size))
                throw new ImageException($"The backing file name is too long for the header ({len} bytes)");
            header.Features |= QedFeatures.BackingFile;
            if (IsRaw(o.BackingFormat)) header.Features |= QedFeatures.BackingFormatNoProbe;
            header.BackingFilenameOffset = QedHeader.Size;
            header.BackingFilenameSize = (uint)len;
        }
        return header;
    }

    private static bool IsRaw(string? format) => string.Equals(format, "raw", StringComparison.Ordinal);

    private static async Task WriteNewImageAsync(IImageFile file, QedHeader header, string? backing, CancellationToken ct)
    {
        var first = new byte[SectorSize * ((QedHeader.Size + (backing is null ? 0 : Encoding.UTF8.GetByteCount(backing)) + SectorSize - 1) / SectorSize)];
        header.WriteTo(first);
        if (backing is not null) Encoding.UTF8.GetBytes(backing, first.AsSpan(QedHeader.Size));
        await file.SetLengthAsync(0, ct).ConfigureAwait(false);
        await file.WriteAsync(0, first, ct).ConfigureAwait(false);
        // The L1 table is all zeros: extending the file gives exactly that.
        await file.SetLengthAsync((long)header.L1TableOffset + (long)header.TableSize * header.ClusterSize, ct).ConfigureAwait(false);
        await file.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Grows the guest-visible size (rewrites image_size; new space reads from the backing file or as
    /// zeros). Shrinking is refused, as in QEMU.
    /// </summary>
    public async Task ResizeAsync(long newSize, CancellationToken ct = default)
    {
        CheckWritable();
        ulong max = QedHeader.QemuMaxImageSize(_header.ClusterSize, _header.TableSize);
        if (newSize < 0 || newSize % 512 != 0 || (ulong)newSize > max)
            throw new ImageException($"Invalid image size specified: {newSize} (must be a multiple of 512 and at most {max})");
        if (newSize < Size)
            throw new ImageException("Shrinking images is currently not supported");
        await AcquireAllocationAsync(ct).ConfigureAwait(false);
        try
        {
            _header.ImageSize = (ulong)newSize;
            await WriteHeaderAsync(ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            ReleaseAllocation();
        }
    }

    /// <summary>
    /// Points the image at another backing file, or at none (QEMU bdrv_qed_co_change_backing_file):
    /// rewrites the header and the name after it, synchronously. The image's data is not touched; the
    /// opened backing chain is closed (reopen the image to read through the new one).
    /// </summary>
    public async Task ChangeBackingFileAsync(string? backingFile, string? backingFormat, CancellationToken ct = default)
    {
        CheckWritable();
        // Data after the header may be laid out by a compat feature this code does not know.
        if (backingFile is not null && (_header.CompatFeatures & ~QedHeader.KnownCompatFeatures) != 0)
            throw new ImageException("Cannot change the backing file: the image uses unknown compatible features");
        var h = _header;
        h.Features &= ~(QedFeatures.BackingFile | QedFeatures.BackingFormatNoProbe);
        byte[] name = backingFile is null ? [] : Encoding.UTF8.GetBytes(backingFile);
        if (backingFile is not null)
        {
            if (name.Length == 0) throw new ImageException("The backing file name is empty");
            h.Features |= QedFeatures.BackingFile;
            if (IsRaw(backingFormat)) h.Features |= QedFeatures.BackingFormatNoProbe;
        }
        h.BackingFilenameOffset = QedHeader.Size;
        h.BackingFilenameSize = (uint)name.Length;
        if ((ulong)(QedHeader.Size + name.Length) > h.HeaderAreaBytes || name.Length > QedHeader.MaxBackingNameLength)
            throw new ImageException("Could not change the backing file: No space left in the header for its name");

        await _writebackLock.WaitAsync(ct).ConfigureAwait(false);
        await AcquireAllocationAsync(ct).ConfigureAwait(false);
        try
        {
            // Tables written under the old backing file's rules must be on disk first.
            await FlushCoreAsync(holdingLocks: true, ct).ConfigureAwait(false);
            var buffer = new byte[QedHeader.Size + name.Length];
            h.WriteTo(buffer);
            name.CopyTo(buffer, QedHeader.Size);
            _counters.Increment(Counter.HeaderWrites);
            await _file.WriteAsync(0, buffer, ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
            _header = h;
            buffer.AsSpan(0, Math.Min(buffer.Length, SectorSize)).CopyTo(_firstSector);
            BackingFileName = backingFile;
            var old = _backing;
            _backing = null;
            if (old is not null) await old.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            ReleaseAllocation();
            _writebackLock.Release();
        }
    }
}
