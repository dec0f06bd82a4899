using Qed;
using static EmuIo.QemuIoFormat;
using static EmuIo.ReadWriteCommands;

namespace EmuIo;

/// <summary>
/// map, alloc and length (qemu-io-cmds.c's map_f, alloc_f, length_f). "Allocated" is QEMU's
/// bdrv_is_allocated on the image itself: data or zero clusters of this layer count, ranges left to the
/// backing file (or reading as zeros without one) do not; every byte of a raw image is allocated.
/// </summary>
internal static class MapCommands
{
    public static readonly IoCommand Map = new("map", null, 0, 0, "", "prints the allocated areas of a file", MapAsync) { Polls = true };

    public static readonly IoCommand Alloc = new("alloc", "a", 1, 2, "offset [count]", "checks if offset is allocated in the file", AllocAsync)
        { Polls = true };

    public static readonly IoCommand Length = new("length", "l", 0, 0, null, "gets the length of the current file", (s, _) =>
    {
        s.Out.Write(CvtStr(s.Image!.Size) + "\n");
        return Task.FromResult(0);
    });

    /// <summary>bdrv_is_allocated: whether [offset, offset+bytes) starts allocated in this layer, and for how many bytes.</summary>
    private static async Task<(bool Allocated, long Bytes)> IsAllocatedAsync(IBlockDevice image, long offset, long bytes)
    {
        bytes = Math.Min(bytes, image.Size - offset);
        if (bytes <= 0) return (false, 0);
        if (image is not IBlockStatusSource source) return (true, bytes);
        var st = await source.GetBlockStatusAsync(offset, bytes).ConfigureAwait(false);
        return (st.Kind != BlockStatusKind.Unallocated, st.Length);
    }

    private static async Task<int> MapAsync(IoSession s, IReadOnlyList<string> argv)
    {
        var image = s.Image!;
        long offset = 0, bytes = image.Size;
        while (bytes > 0)
        {
            bool allocated;
            long num;
            try
            {
                // map_is_allocated: extend the first answer while the next ones agree.
                (allocated, num) = await IsAllocatedAsync(image, offset, bytes).ConfigureAwait(false);
                while (num < bytes)
                {
                    var (next, n) = await IsAllocatedAsync(image, offset + num, bytes - num).ConfigureAwait(false);
                    if (next != allocated || n == 0) break;
                    num += n;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                s.Report($"Failed to get allocation status: {StrError(IoSession.Errno(e))}");
                return -IoSession.Errno(e);
            }
            if (num == 0)
            {
                s.Report("Unexpected end of image");
                return -EIO;
            }
            s.Out.Write($"{CvtStr(num)} (0x{num:x}) bytes {(allocated ? "    allocated" : "not allocated")} at offset {CvtStr(offset)} (0x{offset:x})\n");
            offset += num;
            bytes -= num;
        }
        return 0;
    }

    private static async Task<int> AllocAsync(IoSession s, IReadOnlyList<string> argv)
    {
        if (!TryNumber(s, argv[1], out long offset)) return (int)offset;
        long start = offset, count = 512;
        if (argv.Count == 3 && !TryNumber(s, argv[2], out count)) return (int)count;
        long remaining = count, sum = 0;
        while (remaining > 0)
        {
            bool allocated;
            long num;
            try
            {
                (allocated, num) = await IsAllocatedAsync(s.Image!, offset, remaining).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                s.Out.Write($"is_allocated failed: {StrError(IoSession.Errno(e))}\n");
                return -IoSession.Errno(e);
            }
            offset += num;
            remaining -= num;
            if (allocated) sum += num;
            if (num == 0)
            {
                count -= remaining;
                remaining = 0;
            }
        }
        s.Out.Write($"{sum}/{count} bytes allocated at offset {CvtStr(start)}\n");
        return 0;
    }
}
