using System.Diagnostics;
using static EmuIo.QemuIoFormat;

namespace EmuIo;

/// <summary>read, write, discard and flush, as qemu-io-cmds.c's read_f, write_f, discard_f and flush_f.</summary>
internal static class ReadWriteCommands
{
    /// <summary>BDRV_REQUEST_MAX_BYTES: INT_MAX rounded down to whole sectors.</summary>
    public const long MaxRequestBytes = int.MaxValue & ~511L;

    public static readonly IoCommand Read = new("read", "r", 2, -1,
        "[-abCqv] [-P pattern [-s off] [-l len]] off len", "reads a number of bytes at a specified offset", ReadAsync) { Polls = true };

    public static readonly IoCommand Write = new("write", "w", 2, -1,
        "[-bcCfnquz] [-P pattern | -s source_file] off len", "writes a number of bytes at a specified offset", WriteAsync)
        { Writes = true, Polls = true };

    public static readonly IoCommand Discard = new("discard", "d", 2, -1,
        "[-Cq] off len", "discards a number of bytes at a specified offset", DiscardAsync) { Writes = true, Polls = true };

    public static readonly IoCommand Flush = new("flush", "f", 0, 0, null, "flush all in-core file state to disk", FlushAsync) { Polls = true };

    /// <summary>Prints the usage line of a command, as qemuio_command_usage does (to stdout).</summary>
    public static int Usage(IoSession s, IoCommand c)
    {
        s.Out.Write($"{c.Name} {c.Args} -- {c.OneLine}\n");
        return -EINVAL;
    }

    /// <summary>cvtnum that prints qemu-io's parsing error; false when the number is bad.</summary>
    public static bool TryNumber(IoSession s, string arg, out long value)
    {
        value = CvtNum(arg, w => s.Report("warning: " + w));
        if (value >= 0) return true;
        s.Out.Write(CvtNumError(value, arg) + "\n");
        return false;
    }

    private static async Task<int> ReadAsync(IoSession s, IReadOnlyList<string> argv)
    {
        var g = new Getopt(argv, "bCl:pP:qs:v", s.Err);
        if (!g.Ok) return Usage(s, Read);
        bool cflag = false, qflag = false, vflag = false, pflag = false, sflag = false, lflag = false, bflag = false;
        int pattern = 0;
        long patternOffset = 0, patternCount = 0;
        foreach (var (c, arg) in g.Options)
        {
            switch (c)
            {
                case 'b': bflag = true; break;
                case 'C': cflag = true; break;
                case 'l':
                    lflag = true;
                    if (!TryNumber(s, arg!, out patternCount)) return (int)patternCount;
                    break;
                case 'p': break;                                    // ignored, as in QEMU
                case 'P':
                    pflag = true;
                    pattern = ParsePattern(s.Out, arg!);
                    if (pattern < 0) return -EINVAL;
                    break;
                case 'q': qflag = true; break;
                case 's':
                    sflag = true;
                    if (!TryNumber(s, arg!, out patternOffset)) return (int)patternOffset;
                    break;
                case 'v': vflag = true; break;
            }
        }
        if (g.Operands.Count != 2) return Usage(s, Read);
        if (!TryNumber(s, g.Operands[0], out long offset)) return (int)offset;
        if (!TryNumber(s, g.Operands[1], out long count)) return (int)count;
        if (count > MaxRequestBytes)
        {
            s.Out.Write($"length cannot exceed {MaxRequestBytes}, given {g.Operands[1]}\n");
            return -EINVAL;
        }
        if (!pflag && (lflag || sflag)) return Usage(s, Read);
        if (!lflag) patternCount = count - patternOffset;
        if (patternCount < 0 || patternCount + patternOffset > count)
        {
            s.Out.Write("pattern verification range exceeds end of read data\n");
            return -EINVAL;
        }
        if (bflag)
        {
            if (!CheckSectorAligned(s, offset, count)) return -EINVAL;
            s.Out.Write($"read failed: {StrError(ENOTSUP)}\n");     // QED and raw images have no VM state area
            return -ENOTSUP;
        }

        var buf = new byte[count];
        Array.Fill(buf, (byte)0xab);
        long t1 = Stopwatch.GetTimestamp();
        try
        {
            await s.Image!.ReadAsync(offset, buf).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            s.Out.Write($"read failed: {StrError(IoSession.Errno(e))}\n");
            return -IoSession.Errno(e);
        }
        var elapsed = Stopwatch.GetElapsedTime(t1);
        int ret = 0;
        if (pflag && buf.AsSpan((int)patternOffset, (int)patternCount).IndexOfAnyExcept((byte)pattern) >= 0)
        {
            s.Out.Write($"Pattern verification failed at offset {offset + patternOffset}, {patternCount} bytes\n");
            ret = -EINVAL;
        }
        if (qflag) return ret;
        if (vflag) DumpBuffer(s.Out, buf, offset);
        PrintReport(s.Out, "read", elapsed, offset, count, count, 1, cflag);
        return ret;
    }

    private static bool CheckSectorAligned(IoSession s, long offset, long count)
    {
        if (offset % 512 != 0)
        {
            s.Out.Write($"{offset} is not a sector-aligned value for 'offset'\n");
            return false;
        }
        if (count % 512 != 0)
        {
            s.Out.Write($"{count} is not a sector-aligned value for 'count'\n");
            return false;
        }
        return true;
    }

    private static async Task<int> WriteAsync(IoSession s, IReadOnlyList<string> argv)
    {
        var g = new Getopt(argv, "bcCfnpP:qs:uz", s.Err);
        if (!g.Ok) return Usage(s, Write);
        bool cflag = false, qflag = false, bflag = false, pflag = false, zflag = false, compressed = false, sflag = false;
        bool fua = false, noFallback = false, mayUnmap = false;
        int pattern = 0xcd;
        string? fileName = null;
        foreach (var (c, arg) in g.Options)
        {
            switch (c)
            {
                case 'b': bflag = true; break;
                case 'c': compressed = true; break;
                case 'C': cflag = true; break;
                case 'f': fua = true; break;
                case 'n': noFallback = true; break;
                case 'p': break;
                case 'P':
                    pflag = true;
                    pattern = ParsePattern(s.Out, arg!);
                    if (pattern < 0) return -EINVAL;
                    break;
                case 'q': qflag = true; break;
                case 's': sflag = true; fileName = arg; break;
                case 'u': mayUnmap = true; break;
                case 'z': zflag = true; break;
            }
        }
        if (g.Operands.Count != 2) return Usage(s, Write);
        string? conflict =
            bflag && zflag ? "-b and -z cannot be specified at the same time" :
            fua && (bflag || compressed) ? "-f and -b or -c cannot be specified at the same time" :
            noFallback && !zflag ? "-n requires -z to be specified" :
            mayUnmap && !zflag ? "-u requires -z to be specified" :
            (zflag ? 1 : 0) + (pflag ? 1 : 0) + (sflag ? 1 : 0) > 1 ? "Only one of -z, -P, and -s can be specified at the same time" :
            null;
        if (conflict is not null)
        {
            s.Out.Write(conflict + "\n");
            return -EINVAL;
        }
        if (!TryNumber(s, g.Operands[0], out long offset)) return (int)offset;
        if (!TryNumber(s, g.Operands[1], out long count)) return (int)count;
        if (count > MaxRequestBytes && !noFallback)
        {
            s.Out.Write($"length cannot exceed {MaxRequestBytes} without -n, given {g.Operands[1]}\n");
            return -EINVAL;
        }
        if ((bflag || compressed) && !CheckSectorAligned(s, offset, count)) return -EINVAL;

        byte[]? buf = null;
        if (!zflag)
        {
            buf = sflag ? FillFromFile(s, fileName!, count) : Filled(count, pattern);
            if (buf is null) return -EINVAL;
        }
        long t1 = Stopwatch.GetTimestamp();
        try
        {
            if (bflag || compressed) throw new NotSupportedException();   // no VM state, no compression in QED
            if (zflag) await s.Image!.WriteZeroesAsync(offset, count).ConfigureAwait(false);
            else await s.Image!.WriteAsync(offset, buf).ConfigureAwait(false);
            await s.AfterWriteAsync(fua).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            s.Out.Write($"write failed: {StrError(IoSession.Errno(e))}\n");
            return -IoSession.Errno(e);
        }
        var elapsed = Stopwatch.GetElapsedTime(t1);
        if (!qflag) PrintReport(s.Out, "wrote", elapsed, offset, count, count, 1, cflag);
        return 0;
    }

    public static byte[] Filled(long count, int pattern)
    {
        var buf = new byte[count];
        Array.Fill(buf, (byte)pattern);
        return buf;
    }

    /// <summary>qemu_io_alloc_from_file: the file's bytes, repeated to fill the buffer.</summary>
    private static byte[]? FillFromFile(IoSession s, string fileName, long count)
    {
        byte[] content;
        try
        {
            using var f = File.OpenRead(fileName);
            content = new byte[Math.Min(count, Math.Max(f.Length, 0))];
            f.ReadExactly(content);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            s.Err.Write($"{fileName}: {(e is FileNotFoundException or DirectoryNotFoundException ? "No such file or directory" : e.Message)}\n");
            return null;
        }
        if (content.Length == 0)
        {
            s.Err.Write($"{fileName}: file is empty\n");
            return null;
        }
        var buf = new byte[count];
        for (long p = 0; p < count; p += content.Length)
            content.AsSpan(0, (int)Math.Min(content.Length, count - p)).CopyTo(buf.AsSpan((int)p));
        return buf;
    }

    private static async Task<int> DiscardAsync(IoSession s, IReadOnlyList<string> argv)
    {
        var g = new Getopt(argv, "Cq", s.Err);
        if (!g.Ok) return Usage(s, Discard);
        bool cflag = g.Options.Any(o => o.Option == 'C'), qflag = g.Options.Any(o => o.Option == 'q');
        if (g.Operands.Count != 2) return Usage(s, Discard);
        if (!TryNumber(s, g.Operands[0], out long offset)) return (int)offset;
        if (!TryNumber(s, g.Operands[1], out long bytes)) return (int)bytes;
        if (bytes > MaxRequestBytes)
        {
            s.Out.Write($"length cannot exceed {MaxRequestBytes}, given {g.Operands[1]}\n");
            return -EINVAL;
        }
        long t1 = Stopwatch.GetTimestamp();
        try
        {
            await s.Image!.DiscardAsync(offset, bytes).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            s.Out.Write($"discard failed: {StrError(IoSession.Errno(e))}\n");
            return -IoSession.Errno(e);
        }
        if (!qflag) PrintReport(s.Out, "discard", Stopwatch.GetElapsedTime(t1), offset, bytes, bytes, 1, cflag);
        return 0;
    }

    /// <summary>flush prints nothing; a failure only sets the exit status.</summary>
    private static async Task<int> FlushAsync(IoSession s, IReadOnlyList<string> argv)
    {
        try
        {
            await s.FlushAsync().ConfigureAwait(false);
            return 0;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return -IoSession.Errno(e);
        }
    }
}
