using System.Diagnostics;
using static EmuIo.QemuIoFormat;
using static EmuIo.ReadWriteCommands;

namespace EmuIo;

/// <summary>
/// aio_read, aio_write and aio_flush (qemu-io-cmds.c). A request starts at once and the command returns;
/// its report is printed when the session next waits for I/O (QEMU prints it from the completion
/// callback, which its event loop runs then). Failures and pattern mismatches of aio requests are
/// printed but, as in QEMU, do not change the exit status.
/// </summary>
internal static class AioCommands
{
    public static readonly IoCommand AioRead = new("aio_read", null, 2, -1,
        "[-Ciqv] [-P pattern] off len [len..]", "asynchronously reads a number of bytes", AioReadAsync);

    public static readonly IoCommand AioWrite = new("aio_write", null, 2, -1,
        "[-Cfiquz] [-P pattern] off len [len..]", "asynchronously writes a number of bytes", AioWriteAsync) { Writes = true };

    public static readonly IoCommand AioFlush = new("aio_flush", null, 0, 0, null, "completes all outstanding aio requests",
        (s, _) => Task.FromResult(0)) { Polls = true };

    /// <summary>create_iovec: the total of several lengths, or null after printing why not.</summary>
    private static long? IovecLength(IoSession s, IReadOnlyList<string> lengths)
    {
        long total = 0;
        foreach (var arg in lengths)
        {
            if (!TryNumber(s, arg, out long len)) return null;
            if (len > MaxRequestBytes)
            {
                s.Out.Write($"Argument '{arg}' exceeds maximum size {MaxRequestBytes}\n");
                return null;
            }
            if (total > MaxRequestBytes - len)
            {
                s.Out.Write($"The total number of bytes exceed the maximum size {MaxRequestBytes}\n");
                return null;
            }
            total += len;
        }
        return total;
    }

    private static Task<int> AioReadAsync(IoSession s, IReadOnlyList<string> argv)
    {
        var g = new Getopt(argv, "CiP:qv", s.Err);
        if (!g.Ok) return Task.FromResult(Usage(s, AioRead));
        bool cflag = false, qflag = false, vflag = false, pflag = false;
        int pattern = 0;
        foreach (var (c, arg) in g.Options)
        {
            switch (c)
            {
                case 'C': cflag = true; break;
                case 'P':
                    pflag = true;
                    pattern = ParsePattern(s.Out, arg!);
                    if (pattern < 0) return Task.FromResult(-EINVAL);
                    break;
                case 'i':
                    s.Out.Write("injecting invalid read request\n");
                    return Task.FromResult(0);
                case 'q': qflag = true; break;
                case 'v': vflag = true; break;
            }
        }
        if (g.Operands.Count < 2) return Task.FromResult(Usage(s, AioRead));
        if (!TryNumber(s, g.Operands[0], out long offset)) return Task.FromResult((int)offset);
        if (IovecLength(s, g.Operands.Skip(1).ToList()) is not { } size) return Task.FromResult(-EINVAL);

        var buf = Filled(size, 0xab);
        long t1 = Stopwatch.GetTimestamp();
        s.Submit(Complete(s.Image!.ReadAsync(offset, buf)));
        return Task.FromResult(0);

        async Task<string> Complete(ValueTask io)
        {
            var o = new StringWriter();
            try
            {
                await io.ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return $"readv failed: {StrError(IoSession.Errno(e))}\n";
            }
            var elapsed = Stopwatch.GetElapsedTime(t1);
            if (pflag && buf.AsSpan().IndexOfAnyExcept((byte)pattern) >= 0)
                o.Write($"Pattern verification failed at offset {offset}, {size} bytes\n");
            if (qflag) return o.ToString();
            if (vflag) DumpBuffer(o, buf, offset);
            PrintReport(o, "read", elapsed, offset, size, size, 1, cflag);
            return o.ToString();
        }
    }

    private static Task<int> AioWriteAsync(IoSession s, IReadOnlyList<string> argv)
    {
        var g = new Getopt(argv, "CfiP:quz", s.Err);
        if (!g.Ok) return Task.FromResult(Usage(s, AioWrite));
        bool cflag = false, qflag = false, zflag = false, fua = false, mayUnmap = false;
        int pattern = 0xcd;
        foreach (var (c, arg) in g.Options)
        {
            switch (c)
            {
                case 'C': cflag = true; break;
                case 'f': fua = true; break;
                case 'q': qflag = true; break;
                case 'u': mayUnmap = true; break;
                case 'P':
                    pattern = ParsePattern(s.Out, arg!);
                    if (pattern < 0) return Task.FromResult(-EINVAL);
                    break;
                case 'i':
                    s.Out.Write("injecting invalid write request\n");
                    return Task.FromResult(0);
                case 'z': zflag = true; break;
            }
        }
        if (g.Operands.Count < 2) return Task.FromResult(Usage(s, AioWrite));
        string? conflict =
            zflag && g.Operands.Count != 2 ? "-z supports only a single length parameter" :
            mayUnmap && !zflag ? "-u requires -z to be specified" :
            null;
        if (conflict is not null)
        {
            s.Out.Write(conflict + "\n");
            return Task.FromResult(-EINVAL);
        }
        if (!TryNumber(s, g.Operands[0], out long offset)) return Task.FromResult((int)offset);
        long size;
        byte[]? buf = null;
        if (zflag)
        {
            if (!TryNumber(s, g.Operands[1], out size)) return Task.FromResult((int)size);
        }
        else
        {
            if (IovecLength(s, g.Operands.Skip(1).ToList()) is not { } total) return Task.FromResult(-EINVAL);
            size = total;
            buf = Filled(size, pattern);
        }
        long t1 = Stopwatch.GetTimestamp();
        s.Submit(Complete());
        return Task.FromResult(0);

        async Task<string> Complete()
        {
            try
            {
                if (zflag) await s.Image!.WriteZeroesAsync(offset, size).ConfigureAwait(false);
                else await s.Image!.WriteAsync(offset, buf).ConfigureAwait(false);
                await s.AfterWriteAsync(fua).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return $"aio_write failed: {StrError(IoSession.Errno(e))}\n";
            }
            if (qflag) return "";
            var o = new StringWriter();
            PrintReport(o, "wrote", Stopwatch.GetElapsedTime(t1), offset, size, size, 1, cflag);
            return o.ToString();
        }
    }
}
