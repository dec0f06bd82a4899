using System.CommandLine;
using Qed;

namespace EmuImg;

/// <summary>
/// compare [-f fmt] [-F fmt] [-p] [-q] [-s] [-U] filename1 filename2, following qemu-img's algorithm
/// (block status of both chains; ranges that read as zeros in both are not read). Exit codes:
/// 0 identical, 1 different, 2 an image could not be opened, 4 a read failed.
/// </summary>
internal static class CompareCommand
{
    private const int ChunkSize = 2 << 20;
    private const int SectorSize = 512;

    public static Command Build(EmuImgCli cli)
    {
        var format1 = EmuImgCli.FormatOption("-f", "format of the first image");
        var format2 = EmuImgCli.FormatOption("-F", "format of the second image");
        var progress = new Option<bool>("-p") { Description = "show a progress bar" };
        var quiet = EmuImgCli.QuietOption();
        var strict = new Option<bool>("-s") { Description = "strict: sizes and allocation must match too" };
        var srcCache = EmuImgCli.CacheOption("-T");
        var share = EmuImgCli.ForceShareOption();
        var file1 = new Argument<string>("filename1");
        var file2 = new Argument<string>("filename2");
        var cmd = new Command("compare", "Compare the contents of two images") { format1, format2, progress, quiet, strict, srcCache, share, file1, file2 };
        cmd.SetAction(async (p, ct) =>
        {
            bool q = p.GetValue(quiet);
            IBlockDevice a, b;
            try
            {
                a = await EmuImgCli.OpenAsync(p.GetValue(file1)!, p.GetValue(format1), new QedOpenOptions { ReadOnly = true });
            }
            catch (ImageException e) { throw new CliException(e.Message, 2); }
            catch (CliException e) { throw new CliException(e.Message, 2); }
            await using (a)
            {
                try
                {
                    b = await EmuImgCli.OpenAsync(p.GetValue(file2)!, p.GetValue(format2), new QedOpenOptions { ReadOnly = true });
                }
                catch (ImageException e) { throw new CliException(e.Message, 2); }
                catch (CliException e) { throw new CliException(e.Message, 2); }
                await using (b)
                {
                    var cmp = new Comparer(cli.Out, q, p.GetValue(strict));
                    try
                    {
                        if (p.GetValue(progress) && !q)
                        {
                            int rc = 0;
                            await ProgressBar.RunAsync(cli.Out, "Comparing", async report => rc = await cmp.RunAsync(a, b, report, ct));
                            return rc;
                        }
                        return await cmp.RunAsync(a, b, null, ct);
                    }
                    catch (ImageException e)
                    {
                        throw new CliException(e.Message, 4);
                    }
                }
            }
        });
        return cmd;
    }

    private sealed class Comparer(TextWriter output, bool quiet, bool strict)
    {
        private readonly byte[] _buf1 = new byte[ChunkSize];
        private readonly byte[] _buf2 = new byte[ChunkSize];

        private void Say(string line)
        {
            if (!quiet) output.WriteLine(line);
        }

        public async Task<int> RunAsync(IBlockDevice a, IBlockDevice b, Action<double>? report, CancellationToken ct)
        {
            long common = Math.Min(a.Size, b.Size);
            if (strict && a.Size != b.Size)
            {
                Say("Strict mode: Image size mismatch!");
                return 1;
            }
            for (long pos = 0; pos < common;)
            {
                var s1 = await ImageMap.GetStatusAsync(a, pos, common - pos, ct);
                var s2 = await ImageMap.GetStatusAsync(b, pos, common - pos, ct);
                long chunk = Math.Min(s1.Length, s2.Length);
                if (strict && (s1.Present != s2.Present || s1.Zero != s2.Zero || s1.Data != s2.Data))
                {
                    Say($"Strict mode: Offset {pos} block status mismatch!");
                    return 1;
                }
                if (s1.Zero && s2.Zero)
                {
                    // both read as zeros
                }
                else if (s1.Present == s2.Present)
                {
                    if (s1.Present)
                    {
                        chunk = Math.Min(chunk, ChunkSize);
                        var m1 = _buf1.AsMemory(0, (int)chunk);
                        var m2 = _buf2.AsMemory(0, (int)chunk);
                        await a.ReadAsync(pos, m1, ct);
                        await b.ReadAsync(pos, m2, ct);
                        long diff = FirstDifferentSector(m1.Span, m2.Span);
                        if (diff >= 0)
                        {
                            Say($"Content mismatch at offset {pos + diff}!");
                            return 1;
                        }
                    }
                }
                else
                {
                    chunk = Math.Min(chunk, ChunkSize);
                    if (await FirstNonZeroAsync(s1.Present ? a : b, pos, chunk, ct) is long at and >= 0)
                    {
                        Say($"Content mismatch at offset {at}!");
                        return 1;
                    }
                }
                pos += chunk;
                report?.Invoke(100.0 * pos / Math.Max(a.Size, b.Size));
            }

            if (a.Size != b.Size)
            {
                Say("Warning: Image size mismatch!");
                var over = a.Size > b.Size ? a : b;
                for (long pos = common; pos < over.Size;)
                {
                    var st = await ImageMap.GetStatusAsync(over, pos, over.Size - pos, ct);
                    long chunk = Math.Min(st.Length, ChunkSize);
                    if (st.Present && !st.Zero && await FirstNonZeroAsync(over, pos, chunk, ct) is long at and >= 0)
                    {
                        Say($"Content mismatch at offset {at}!");
                        return 1;
                    }
                    pos += chunk;
                }
            }
            Say("Images are identical.");
            return 0;
        }

        /// <summary>Byte offset of the first 512-byte sector that differs, or −1.</summary>
        private static long FirstDifferentSector(ReadOnlySpan<byte> x, ReadOnlySpan<byte> y)
        {
            for (int i = 0; i < x.Length; i += SectorSize)
            {
                int len = Math.Min(SectorSize, x.Length - i);
                if (!x.Slice(i, len).SequenceEqual(y.Slice(i, len))) return i;
            }
            return -1;
        }

        /// <summary>Guest offset of the first 512-byte sector holding a non-zero byte, or −1.</summary>
        private async Task<long> FirstNonZeroAsync(IBlockDevice d, long pos, long length, CancellationToken ct)
        {
            var m = _buf1.AsMemory(0, (int)length);
            await d.ReadAsync(pos, m, ct);
            int idx = m.Span.IndexOfAnyExcept((byte)0);
            return idx < 0 ? -1 : pos + idx / SectorSize * SectorSize;
        }
    }
}
