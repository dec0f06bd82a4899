namespace Qed;

/// <summary>
/// The one narrow asynchronous I/O interface every image format implements (QED, raw), and the only
/// thing the emulator's disk devices see of the storage layer.
/// </summary>
/// <remarks>
/// Offsets and lengths are in bytes of the guest-visible disk. Every method may complete synchronously
/// ("done now": the returned <see cref="ValueTask"/> is already completed) or asynchronously
/// ("submitted"). Implementations never capture the caller's synchronization context
/// (they use <c>ConfigureAwait(false)</c> internally), so the caller chooses where its continuation
/// runs: the emulator awaits from its event loop's context, or posts the completion there itself.
/// Many requests may be in flight at once. Errors surface as <see cref="BlockIOException"/> or
/// <see cref="ImageFormatException"/> (subtypes of <see cref="ImageException"/>) with a message a
/// user can act on.
/// </remarks>
public interface IBlockDevice : IAsyncDisposable
{
    /// <summary>Guest-visible size in bytes (a multiple of 512).</summary>
    long Size { get; }

    /// <summary>True when opened read-only: writes, write-zeroes and discard fail.</summary>
    bool IsReadOnly { get; }

    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default);

    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>Makes the range read as zeros (QED: zero clusters where whole clusters are covered).</summary>
    ValueTask WriteZeroesAsync(long offset, long length, CancellationToken cancellationToken = default);

    /// <summary>A hint that the range's contents are no longer needed; may do nothing.</summary>
    ValueTask DiscardAsync(long offset, long length, CancellationToken cancellationToken = default);

    /// <summary>Makes every completed write durable on the host.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);
}

/// <summary>Base of every error the storage layer reports; its message is one line a user can act on.</summary>
public class ImageException : Exception
{
    public ImageException(string message) : base(message) { }
    public ImageException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The image's bytes violate the format (bad header, table offsets, ...).</summary>
public class ImageFormatException : ImageException
{
    public ImageFormatException(string message) : base(message) { }
    public ImageFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A host I/O operation failed, or a request lies outside the disk.</summary>
public class BlockIOException : ImageException
{
    public BlockIOException(string message) : base(message) { }
    public BlockIOException(string message, Exception inner) : base(message, inner) { }
}
