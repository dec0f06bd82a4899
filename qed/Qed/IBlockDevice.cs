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
    public ImageException(string message) : base(Printable(message)) { }
    public ImageException(string message, Exception inner) : base(Printable(message), inner) { }

    /// <summary>
    /// Messages name files, and a backing file's name is whatever bytes an image holds: control
    /// characters and line separators are shown escaped (\n, \x1b), so a message is always one
    /// printable line and cannot drive the user's terminal.
    /// </summary>
    public static string Printable(string message)
    {
        if (!message.Any(NeedsEscape)) return message;
        var sb = new System.Text.StringBuilder(message.Length + 16);
        foreach (char c in message)
        {
            if (!NeedsEscape(c)) sb.Append(c);
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else if (c == '\t') sb.Append("\\t");
            else if (c <= '\u00ff') sb.Append($"\\x{(int)c:x2}");
            else sb.Append($"\\u{(int)c:x4}");
        }
        return sb.ToString();
    }

    private static bool NeedsEscape(char c) =>
        char.IsControl(c) || c is '\u2028' or '\u2029';
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
