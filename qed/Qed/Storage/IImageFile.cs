namespace Qed.Storage;

/// <summary>
/// Every byte an image format reads or writes on the host goes through this one small interface:
/// positioned reads and writes, flush, length and set-length. Keeping it this narrow lets a test put a
/// recording layer underneath an image and replay any subset of the writes issued since the last
/// completed flush (power-cut simulation).
/// </summary>
public interface IImageFile : IAsyncDisposable
{
    /// <summary>The path the file was opened from (used in messages and to resolve backing files).</summary>
    string Path { get; }

    bool IsReadOnly { get; }

    /// <summary>Current length in bytes.</summary>
    long GetLength();

    /// <summary>
    /// Reads up to <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>; returns how many
    /// were read, which is less only at the end of the file.
    /// </summary>
    ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>Reads the whole buffer; bytes past the end of the file read as zeros.</summary>
    async ValueTask ReadFullAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await ReadAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
        if (n < buffer.Length) buffer.Span[n..].Clear();
    }

    /// <summary>Writes all of <paramref name="buffer"/> at <paramref name="offset"/>, extending the file if needed.</summary>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>Makes every completed write and length change durable.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken = default);

    /// <summary>Grows or shrinks the file; new bytes read as zeros.</summary>
    ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default);
}
