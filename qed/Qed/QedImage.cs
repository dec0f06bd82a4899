using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Qed.Storage;

namespace Qed;

/// <summary>
/// A QED image as QEMU 7.2 reads and writes it (QED spec; QEMU block/qed.c): header, L1 table in
/// memory, L2 tables through a cache, allocation at the end of the file, backing files, the
/// need-check (dirty) bit, check and repair. This file holds opening, lookup and reads; writes,
/// the dirty bit, check and creation live in the other QedImage.*.cs files.
/// </summary>
public sealed partial class QedImage : IBlockDevice, IBlockStatusSource
{
    private const int SectorSize = 512;

    private readonly QedFile _file;
    private readonly QedCounters _counters = new();
    private readonly QedGeometry _g;
    private readonly QedOpenOptions _options;
    private readonly byte[] _firstSector = new byte[SectorSize];
    private QedHeader _header;
    private readonly ulong[] _l1;
    /// <summary>L1 entries whose table overlaps metadata or another table (null when there are none).</summary>
    private bool[]? _l1Unusable;
    private MetadataMap _metadata;
    private readonly L2Cache _cache;
    private readonly Func<long, Task<L2Table>> _loadTable;
    /// <summary>End of the last allocated cluster: new clusters go here (QEMU's file_size).</summary>
    private long _fileEnd;
    private IBlockDevice? _backing;
    private volatile bool _disposed;

    private QedImage(IImageFile file, QedHeader header, QedOpenOptions options, long fileLength)
    {
        _file = new QedFile(file, _counters);
        _header = header;
        _options = options;
        _g = new QedGeometry(header.ClusterSize, header.TableSize, header.HeaderSize);
        _l1 = new ulong[_g.TableEntries];
        _fileEnd = fileLength & ~(long)(_g.ClusterSize - 1);
        long cacheTables = Math.Clamp(options.L2CacheBytes / _g.TableBytes, 2, 1 << 16);
        _cache = new L2Cache((int)cacheTables, _counters, OnCachePressure);
        _loadTable = LoadTableAsync;
        _metadata = new MetadataMap([]);
        _timer = new NeedCheckTimer(this, options.TimeProvider, options.NeedCheckDelay);
    }

    /// <summary>Guest-visible size in bytes.</summary>
    public long Size => (long)_header.ImageSize;
    public bool IsReadOnly => _options.ReadOnly || _file.File.IsReadOnly;
    /// <summary>The image file's path.</summary>
    public string Path => _file.File.Path;
    /// <summary>A copy of the header as it is now.</summary>
    public QedHeader Header => _header;
    public QedGeometry Geometry => _g;
    public int ClusterSize => _g.ClusterSize;
    /// <summary>The backing file name as stored in the image, or null.</summary>
    public string? BackingFileName { get; private set; }
    /// <summary>"raw" when the no-probe bit says so, else null (the format is probed).</summary>
    public string? BackingFormat => _header.HasBackingFile && _header.BackingIsRaw ? "raw" : null;
    /// <summary>The backing file name resolved against this image's folder, or null.</summary>
    public string? BackingFilePath => BackingFileName is null ? null : ResolveBackingPath(Path, BackingFileName);
    /// <summary>The opened backing image (null when there is none or it was not opened).</summary>
    public IBlockDevice? Backing => _backing;
    /// <summary>True while the need-check (dirty) bit is set in the header.</summary>
    public bool IsDirty => _header.NeedsCheck;
    /// <summary>Current length of the image file.</summary>
    public long FileLength => _file.GetLength();
    /// <summary>A snapshot of the always-on counters.</summary>
    public QedStatistics Statistics => _counters.Snapshot();
    /// <summary>Bytes of host storage the file occupies (qemu-img's "disk size"), or its length where the host cannot say.</summary>
    public long AllocatedFileBytes => _file.File switch
    {
        HostImageFile h => h.GetAllocatedBytes(),
        SynchronousHostImageFile s => s.GetAllocatedBytes(),
        _ => _file.GetLength(),
    };

    /// <summary>
    /// Resolves a backing file name the way QEMU does: absolute names as they are, relative names
    /// against the folder of the image that names them.
    /// </summary>
    public static string ResolveBackingPath(string imagePath, string backingName)
    {
        if (System.IO.Path.IsPathRooted(backingName)) return backingName;
        string? dir = System.IO.Path.GetDirectoryName(imagePath);
        return string.IsNullOrEmpty(dir) ? backingName : System.IO.Path.Combine(dir, backingName);
    }

    /// <summary>Opens the image at <paramref name="path"/> (read-only or read-write per the options).</summary>
    public static async Task<QedImage> OpenAsync(string path, QedOpenOptions? options = null, CancellationToken ct = default)
    {
        options ??= new QedOpenOptions();
        var file = ImageOpener.OpenHostFile(path, options);
        try
        {
            return await OpenAsync(file, options, ct).ConfigureAwait(false);
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Opens a QED image over <paramref name="file"/>, validating it in QEMU's order (bdrv_qed_do_open).
    /// The file is not disposed on failure; on success the image owns it.
    /// </summary>
    public static async Task<QedImage> OpenAsync(IImageFile file, QedOpenOptions? options = null, CancellationToken ct = default)
    {
        options ??= new QedOpenOptions();
        if (file.IsReadOnly && !options.ReadOnly) options = options with { ReadOnly = true };

        long length = file.GetLength();
        var first = new byte[SectorSize];
        int got = await file.ReadAsync(0, first, ct).ConfigureAwait(false);
        if (got < 4 || BinaryPrimitives.ReadUInt32LittleEndian(first) != QedHeader.Magic)
            throw new ImageFormatException("Image not in QED format");
        if (got < QedHeader.Size)
            throw new ImageFormatException($"QED header is truncated: the file has {got} of its 64 bytes");
        var header = QedHeader.Parse(first);
        header.Validate(length);

        var image = new QedImage(file, header, options, length);
        first.CopyTo(image._firstSector, 0);
        try
        {
            await image.InitializeAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            image._timer.Dispose();
            if (image._backing is not null) await image._backing.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return image;
    }

    private async Task InitializeAsync(CancellationToken ct)
    {
        if (_header.HasBackingFile)
        {
            var name = new byte[_header.BackingFilenameSize];
            await _file.ReadAsync(_header.BackingFilenameOffset, name, ct).ConfigureAwait(false);
            if (Array.IndexOf(name, (byte)0) >= 0)
                throw new ImageFormatException("QED backing filename contains a NUL byte");
            BackingFileName = Encoding.UTF8.GetString(name);
        }

        await ReadL1Async(ct).ConfigureAwait(false);

        // Everything that can fail for the image's own reasons (its backing chain included) comes
        // before anything that writes to it, so a bad image is left exactly as it was.
        if (_header.HasBackingFile && !_options.NoBacking)
        {
            string path = BackingFilePath!;
            var opener = _options.BackingOpener ?? ((p, f, c) => ImageOpener.OpenBackingAsync(p, f, _options, c));
            try
            {
                _backing = await opener(path, BackingFormat, ct).ConfigureAwait(false);
            }
            catch (ImageException e)
            {
                throw ImageOpener.Wrap("Could not open backing file: ", e);
            }
        }

        // Unknown autoclear bits are cleared by a read-write open (QED spec, "autoclear_features").
        if (!IsReadOnly && (_header.AutoclearFeatures & ~QedHeader.KnownAutoclearFeatures) != 0)
        {
            _header.AutoclearFeatures &= QedHeader.KnownAutoclearFeatures;
            await WriteHeaderAsync(ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
        }

        // A dirty image may have tables pointing at clusters that never reached the disk: check and
        // repair before use (QEMU does this on read-write opens; a read-only open skips it).
        if (_header.NeedsCheck && !IsReadOnly && !_options.CheckMode)
        {
            var result = await CheckAsync(repair: true, ct).ConfigureAwait(false);
            if (result.CheckErrors > 0)
                throw new BlockIOException($"{Path}: the image needs a check, and checking it failed with {result.CheckErrors} I/O errors");
        }

        // A trailing partial cluster is ignored by QEMU and later overwritten; drop it so that new
        // clusters, which this engine writes only partly, always start out as zeros.
        if (!IsReadOnly && !_options.CheckMode && _file.GetLength() > _fileEnd)
            await _file.SetLengthAsync(_fileEnd, ct).ConfigureAwait(false);
        _extendedTo = _fileEnd;

        if (_header.NeedsCheck && !IsReadOnly && !_options.CheckMode) _timer.Arm();
    }

    private async Task ReadL1Async(CancellationToken ct)
    {
        var bytes = new byte[_g.TableBytes];
        await _file.ReadAsync((long)_header.L1TableOffset, bytes, ct).ConfigureAwait(false);
        for (int i = 0; i < _l1.Length; i++)
            _l1[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(i * 8));
        RebuildMetadataMap();
    }

    /// <summary>
    /// Records where metadata lives and marks L1 entries whose table overlaps the header, the L1 table
    /// or another L2 table: such tables are refused on access instead of being read or written.
    /// </summary>
    private void RebuildMetadataMap()
    {
        long l1 = (long)_header.L1TableOffset;
        var fixedRanges = new List<(long, long)> { (0, _g.HeaderAreaBytes), (l1, l1 + _g.TableBytes) };
        var fixedMap = new MetadataMap(fixedRanges);
        var tables = new List<(long Start, int Index)>();
        bool[]? unusable = null;
        for (int i = 0; i < _l1.Length; i++)
        {
            ulong e = _l1[i];
            if (e == 0 || !_g.IsTableOffsetValid(e, _fileEnd)) continue;
            if (fixedMap.Overlaps((long)e, (long)e + _g.TableBytes))
                (unusable ??= new bool[_l1.Length])[i] = true;
            else
                tables.Add(((long)e, i));
        }
        tables.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (int k = 1; k < tables.Count; k++)
        {
            if (tables[k].Start < tables[k - 1].Start + _g.TableBytes)
            {
                unusable ??= new bool[_l1.Length];
                unusable[tables[k].Index] = unusable[tables[k - 1].Index] = true;
            }
        }
        _l1Unusable = unusable;
        foreach (var t in tables) fixedRanges.Add((t.Start, t.Start + _g.TableBytes));
        _metadata = new MetadataMap(fixedRanges);
    }

    private async Task<L2Table> LoadTableAsync(long offset)
    {
        var table = new L2Table(offset, _g.TableEntries);
        await _file.ReadAsync(offset, table.Bytes).ConfigureAwait(false);
        // Data entries that point into metadata would let a guest write overwrite tables: refuse them.
        var metadata = _metadata;
        for (int i = 0; i < table.Count; i++)
        {
            ulong e = table[i];
            if (e > 1 && _g.IsClusterOffsetValid(e, _fileEnd) && metadata.Overlaps((long)e, (long)e + _g.ClusterSize))
                (table.BadEntries ??= new HashSet<int>()).Add(i);
        }
        return table;
    }

    private void CheckRange(long offset, long length)
    {
        if (_disposed) throw new BlockIOException($"{Path}: the image is closed");
        if (offset < 0 || length < 0 || offset > Size - length)
            throw new BlockIOException($"{Path}: request at offset {offset} of {length} bytes lies outside the {Size}-byte disk");
    }

    /// <summary>
    /// Finds the run of clusters of one kind that starts at <paramref name="pos"/>, at most
    /// <paramref name="maxLength"/> bytes and never past the end of the L2 table. Completes
    /// synchronously when the table is cached.
    /// </summary>
    internal ValueTask<ClusterRun> FindRunAsync(long pos, long maxLength) =>
        TryFindRun(pos, maxLength, out var run) ? new ValueTask<ClusterRun>(run) : FindRunSlowAsync(pos, maxLength);

    /// <summary>The lookup without I/O: false when the L2 table has to be read first.</summary>
    private bool TryFindRun(long pos, long maxLength, out ClusterRun run)
    {
        long spanEnd = _g.StartOfTableSpan(pos) + _g.BytesPerTable;
        long length = Math.Min(maxLength, spanEnd - pos);
        int l1Index = _g.L1Index(pos);
        ulong l1Entry = _l1[l1Index];
        if (l1Entry == 0)
        {
            run = new ClusterRun(ClusterKind.NoTable, length, -1, null);
            return true;
        }
        CheckL1Entry(l1Index, l1Entry);
        if (_cache.TryGet((long)l1Entry, out var table))
        {
            run = ScanRun(table, pos, length);
            return true;
        }
        run = default;
        return false;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ClusterRun> FindRunSlowAsync(long pos, long maxLength)
    {
        long spanEnd = _g.StartOfTableSpan(pos) + _g.BytesPerTable;
        long length = Math.Min(maxLength, spanEnd - pos);
        int l1Index = _g.L1Index(pos);
        ulong l1Entry = _l1[l1Index];
        if (l1Entry == 0) return new ClusterRun(ClusterKind.NoTable, length, -1, null);
        CheckL1Entry(l1Index, l1Entry);
        var table = await _cache.GetAsync((long)l1Entry, _loadTable).ConfigureAwait(false);
        return ScanRun(table, pos, length);
    }

    /// <summary>The lookup for allocations (under the allocation lock): the run's table comes back pinned.</summary>
    private async ValueTask<ClusterRun> FindRunPinnedAsync(long pos, long maxLength)
    {
        long spanEnd = _g.StartOfTableSpan(pos) + _g.BytesPerTable;
        long length = Math.Min(maxLength, spanEnd - pos);
        int l1Index = _g.L1Index(pos);
        ulong l1Entry = _l1[l1Index];
        if (l1Entry == 0) return new ClusterRun(ClusterKind.NoTable, length, -1, null);
        CheckL1Entry(l1Index, l1Entry);
        var table = await _cache.GetPinnedAsync((long)l1Entry, _loadTable).ConfigureAwait(false);
        try
        {
            return ScanRun(table, pos, length);
        }
        catch
        {
            _cache.Unpin(table);
            throw;
        }
    }

    private void CheckL1Entry(int l1Index, ulong l1Entry)
    {
        if (!_g.IsTableOffsetValid(l1Entry, _fileEnd) || (_l1Unusable is { } bad && bad[l1Index]))
            throw new BlockIOException(
                $"{Path}: L1 entry {l1Index} has an invalid L2 table offset 0x{l1Entry:x} (run 'check -r all')");
    }

    private ClusterRun ScanRun(L2Table table, long pos, long length)
    {
        int first = _g.L2Index(pos);
        int maxClusters = _g.ClustersInRange(pos, length);
        ulong e0 = table[first];
        var kind = e0 switch { 0 => ClusterKind.Unallocated, 1 => ClusterKind.Zero, _ => ClusterKind.Allocated };
        if (kind == ClusterKind.Allocated && !IsDataEntryUsable(table, first, e0))
            throw new BlockIOException(
                $"{Path}: L2 entry for guest offset {_g.StartOfCluster(pos)} has an invalid cluster offset 0x{e0:x} (run 'check -r all')");
        int n = 1;
        if (kind == ClusterKind.Allocated)
        {
            ulong expect = e0;
            while (n < maxClusters)
            {
                expect += (ulong)_g.ClusterSize;
                ulong e = table[first + n];
                if (e != expect || !IsDataEntryUsable(table, first + n, e)) break;
                n++;
            }
        }
        else
        {
            while (n < maxClusters && table[first + n] == e0) n++;
        }
        long runLength = Math.Min(length, ((long)n << _g.ClusterBits) - _g.OffsetInCluster(pos));
        long host = kind == ClusterKind.Allocated ? (long)e0 + _g.OffsetInCluster(pos) : -1;
        return new ClusterRun(kind, runLength, host, table);
    }

    private bool IsDataEntryUsable(L2Table table, int index, ulong entry) =>
        _g.IsClusterOffsetValid(entry, Volatile.Read(ref _fileEnd)) && (table.BadEntries is null || !table.BadEntries.Contains(index));

    /// <summary>Reads guest bytes: allocated clusters from the file, zero clusters as zeros, the rest from the backing file.</summary>
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
        _counters.Increment(Counter.GuestReads);
        _counters.Add(Counter.GuestBytesRead, buffer.Length);
        // The common case, one run of allocated clusters: one host read and no state machine here.
        if (TryFindRun(offset, buffer.Length, out var run) && run.Length == buffer.Length && run.Kind == ClusterKind.Allocated)
            return _file.ReadAsync(run.HostOffset, buffer, cancellationToken);
        return ReadRunsAsync(offset, buffer, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadRunsAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        long pos = offset;
        int done = 0;
        while (done < buffer.Length)
        {
            if (!TryFindRun(pos, buffer.Length - done, out var run))
                run = await FindRunSlowAsync(pos, buffer.Length - done).ConfigureAwait(false);
            int n = (int)run.Length;
            var part = buffer.Slice(done, n);
            switch (run.Kind)
            {
                case ClusterKind.Allocated:
                    await _file.ReadAsync(run.HostOffset, part, cancellationToken).ConfigureAwait(false);
                    break;
                case ClusterKind.Zero:
                    part.Span.Clear();
                    break;
                default:
                    await ReadBackingAsync(pos, part, cancellationToken).ConfigureAwait(false);
                    break;
            }
            pos += n;
            done += n;
        }
    }

    /// <summary>Reads from the backing file; zeros where there is none or past its end.</summary>
    private ValueTask ReadBackingAsync(long pos, Memory<byte> part, CancellationToken ct)
    {
        var backing = _backing;
        if (backing is null || pos >= backing.Size)
        {
            part.Span.Clear();
            return ValueTask.CompletedTask;
        }
        int inside = (int)Math.Min(part.Length, backing.Size - pos);
        if (inside < part.Length) part.Span[inside..].Clear();
        return backing.ReadAsync(pos, part[..inside], ct);
    }

    /// <summary>The allocation status of this layer only (qemu-img map walks the chain itself).</summary>
    public async ValueTask<BlockStatus> GetBlockStatusAsync(long offset, long length, CancellationToken cancellationToken = default)
    {
        CheckRange(offset, length);
        var run = await FindRunAsync(offset, length).ConfigureAwait(false);
        return run.Kind switch
        {
            ClusterKind.Allocated => new BlockStatus(BlockStatusKind.Data, run.Length, run.HostOffset, Path),
            ClusterKind.Zero => new BlockStatus(BlockStatusKind.Zero, run.Length, -1, null),
            _ => new BlockStatus(BlockStatusKind.Unallocated, run.Length, -1, null),
        };
    }

    private ValueTask WriteHeaderAsync(CancellationToken ct = default)
    {
        // QEMU rewrites the whole first sector with the 64 header bytes patched in.
        _header.WriteTo(_firstSector);
        _counters.Increment(Counter.HeaderWrites);
        return _file.WriteAsync(0, _firstSector.AsMemory().ToArray(), ct);
    }

    /// <summary>Writes the 512-byte sector of the L1 table that holds entry <paramref name="index"/>.</summary>
    private ValueTask WriteL1SectorAsync(int index, CancellationToken ct = default)
    {
        const int perSector = SectorSize / 8;
        int first = index / perSector * perSector;
        int count = Math.Min(perSector, _l1.Length - first);
        var bytes = new byte[count * 8];
        for (int i = 0; i < count; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), _l1[first + i]);
        _counters.Increment(Counter.L1Writes);
        return _file.WriteAsync((long)_header.L1TableOffset + first * 8L, bytes, ct);
    }

    private async ValueTask WriteWholeL1Async(CancellationToken ct = default)
    {
        var bytes = new byte[_g.TableBytes];
        for (int i = 0; i < _l1.Length; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), _l1[i]);
        _counters.Increment(Counter.L1Writes);
        await _file.WriteAsync((long)_header.L1TableOffset, bytes, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Flushes, clears the need-check bit (as QEMU does on close), closes the file and the backing chain.
    /// The caller must have no requests in flight.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            await _timer.StopAsync().ConfigureAwait(false);
            if (!IsReadOnly && !_options.CheckMode)
            {
                await _writebackLock.WaitAsync().ConfigureAwait(false);
                await AcquireAllocationAsync(default).ConfigureAwait(false);
                try
                {
                    await TrimExtensionAsync(default).ConfigureAwait(false);
                    await FlushCoreAsync(holdingLocks: true, default).ConfigureAwait(false);
                    if (_header.NeedsCheck)
                    {
                        _header.Features &= ~QedFeatures.NeedCheck;
                        _counters.Increment(Counter.NeedCheckClears);
                        await WriteHeaderAsync().ConfigureAwait(false);
                        await _file.FlushAsync().ConfigureAwait(false);
                    }
                }
                finally
                {
                    ReleaseAllocation();
                    _writebackLock.Release();
                }
            }
        }
        finally
        {
            await _file.File.DisposeAsync().ConfigureAwait(false);
            if (_backing is not null) await _backing.DisposeAsync().ConfigureAwait(false);
        }
    }
}
