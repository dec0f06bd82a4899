namespace Qed;

/// <summary>What one layer of an image says about a guest range (qemu-img map's raw material).</summary>
public enum BlockStatusKind : byte
{
    /// <summary>Not stored in this layer: read from the backing file, or zeros without one.</summary>
    Unallocated,
    /// <summary>Stored as zeros (a QED zero cluster, or a hole in a raw file).</summary>
    Zero,
    /// <summary>Stored as data.</summary>
    Data,
}

/// <param name="Kind">What the range is in this layer.</param>
/// <param name="Length">Bytes from the queried offset that share this status (at least 1).</param>
/// <param name="HostOffset">Where the range starts in <paramref name="HostFile"/>, or −1 when it has no host offset.</param>
/// <param name="HostFile">The file holding the bytes (for map's "File" column), or null.</param>
public readonly record struct BlockStatus(BlockStatusKind Kind, long Length, long HostOffset, string? HostFile);

/// <summary>Implemented by every format that can report allocation (QED, raw).</summary>
public interface IBlockStatusSource
{
    ValueTask<BlockStatus> GetBlockStatusAsync(long offset, long length, CancellationToken cancellationToken = default);

    /// <summary>The backing image, or null.</summary>
    IBlockDevice? Backing { get; }
}
