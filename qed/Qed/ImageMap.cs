namespace Qed;

/// <summary>
/// One extent of qemu-img map's output: what the whole backing chain says about a guest range.
/// </summary>
/// <param name="Depth">How many backing layers down the answer came from.</param>
/// <param name="Present">Allocated in some layer (data or zeros stored), not just implied.</param>
/// <param name="Offset">Host offset in <paramref name="File"/>, or −1 when there is none.</param>
public readonly record struct MapEntry(long Start, long Length, int Depth, bool Present, bool Zero, bool Data, long Offset, string? File)
{
    public bool HasOffset => Offset >= 0;
}

/// <summary>
/// Block status over a backing chain, as QEMU's bdrv_block_status_above and qemu-img's
/// get_block_status compute it: descend while a layer leaves the range unallocated; a layer with no
/// backing file, or a range past the end of its backing file, reads as zeros.
/// </summary>
public static class ImageMap
{
    public static async ValueTask<MapEntry> GetStatusAsync(IBlockDevice top, long offset, long length, CancellationToken ct = default)
    {
        int depth = 0;
        var layer = top;
        while (true)
        {
            if (layer is not IBlockStatusSource source)
                throw new ImageException("This image format does not report allocation");
            length = Math.Min(length, layer.Size - offset);
            var st = await source.GetBlockStatusAsync(offset, length, ct).ConfigureAwait(false);
            length = st.Length;
            if (st.Kind != BlockStatusKind.Unallocated)
                return new MapEntry(offset, length, depth, true, st.Kind == BlockStatusKind.Zero, st.Kind == BlockStatusKind.Data,
                    st.HostOffset, st.HostOffset >= 0 ? st.HostFile : null);
            var backing = source.Backing;
            if (backing is null || offset >= backing.Size)
                return new MapEntry(offset, length, depth, false, true, false, -1, null);
            layer = backing;
            depth++;
        }
    }

    /// <summary>The merged extents of [start, start+length), in order (qemu-img map's loop and entry_mergeable).</summary>
    public static async IAsyncEnumerable<MapEntry> MapAsync(IBlockDevice top, long start, long length,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        long end = Math.Min(top.Size, start + length);
        MapEntry? current = null;
        for (long pos = start; pos < end;)
        {
            var next = await GetStatusAsync(top, pos, end - pos, ct).ConfigureAwait(false);
            pos += next.Length;
            if (current is { } c && Mergeable(c, next))
            {
                current = c with { Length = c.Length + next.Length };
                continue;
            }
            if (current is { } done) yield return done;
            current = next;
        }
        if (current is { } last) yield return last;
    }

    private static bool Mergeable(MapEntry a, MapEntry b) =>
        a.Zero == b.Zero && a.Data == b.Data && a.Depth == b.Depth && a.Present == b.Present
        && a.HasOffset == b.HasOffset && (a.File is null) == (b.File is null)
        && (a.File is null || a.File == b.File)
        && (!a.HasOffset || a.Offset + a.Length == b.Offset)
        && a.Start + a.Length == b.Start;
}
