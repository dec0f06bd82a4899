using System.CommandLine;
using Qed;

namespace EmuImg;

/// <summary>
/// convert [-p] [-q] [-n] [-f fmt] [-O output_fmt] [-o options] [-S sparse_size] [-t cache] [-T src_cache]
/// [-U] filename [filename2 [...]] output_filename. Sources are concatenated; ranges that read as zeros
/// are not written (the new image already reads as zeros), as qemu-img does with its default -S 4k.
/// </summary>
internal static class ConvertCommand
{
    private const int ChunkSize = 2 << 20;

    public static Command Build(EmuImgCli cli)
    {
        var format = EmuImgCli.FormatOption(description: "format of the source images (probed when absent)");
        var outFormat = EmuImgCli.FormatOption("-O", "format of the output image: raw (default) or qed");
        var options = new Option<string[]>("-o") { Description = "output format options (cluster_size=, table_size=)" };
        var sparse = new Option<string>("-S") { Description = "bytes of zeros that are left unwritten (default 4k; 0 writes everything)" };
        var progress = new Option<bool>("-p") { Description = "show a progress bar" };
        var quiet = EmuImgCli.QuietOption();
        var noCreate = new Option<bool>("-n") { Description = "do not create the output: write into an existing image" };
        var compress = new Option<bool>("-c") { Description = "compress (not supported by QED)" };
        var cache = EmuImgCli.CacheOption("-t");
        var srcCache = EmuImgCli.CacheOption("-T");
        var share = EmuImgCli.ForceShareOption();
        var files = new Argument<string[]>("filenames") { Arity = ArgumentArity.OneOrMore, Description = "source images, then the output image" };
        var cmd = new Command("convert", "Convert images to another format")
            { format, outFormat, options, sparse, progress, quiet, noCreate, compress, cache, srcCache, share, files };
        cmd.SetAction(async (p, ct) =>
        {
            var names = p.GetValue(files)!;
            if (names.Length < 2) throw new CliException("Expecting at least one source and an output file name");
            if (p.GetValue(compress)) throw new CliException("Compression not supported for this file format");
            string outFmt = p.GetValue(outFormat) ?? "raw";
            EmuImgCli.CheckFormat(outFmt);
            var opts = FormatOptions.Parse(p.GetValue(options), outFmt, out bool help);
            if (help)
            {
                cli.Out.Write(FormatOptions.Help(outFmt));
                return 0;
            }
            if (opts.BackingFile is not null) throw new CliException("Backing files are not supported for convert output (-o backing_file)");
            long sparseSize = p.GetValue(sparse) is { } s ? EmuImgCli.ParseSize(s, "sparse size") : 4096;
            if (sparseSize != 0 && (sparseSize < 512 || sparseSize % 512 != 0 || sparseSize > ChunkSize))
                throw new CliException("Invalid buffer size for sparse output specified");
            string output = names[^1];

            var sources = new List<IBlockDevice>();
            try
            {
                foreach (var name in names[..^1])
                    sources.Add(await EmuImgCli.OpenAsync(name, p.GetValue(format), new QedOpenOptions { ReadOnly = true }));
                long total = sources.Sum(d => d.Size);
                bool create = !p.GetValue(noCreate);
                if (create)
                {
                    try
                    {
                        if (outFmt == "raw") await RawImage.CreateAsync(output, total, ct);
                        else await QedImage.CreateAsync(output, new QedCreateOptions
                        {
                            Size = total,
                            ClusterSize = opts.ClusterSize ?? QedHeader.DefaultClusterSize,
                            TableSize = opts.TableSize ?? QedHeader.DefaultTableSize,
                        }, ct);
                    }
                    catch (ImageException e)
                    {
                        throw new CliException($"{output}: {e.Message}");
                    }
                }
                var target = await EmuImgCli.OpenAsync(output, create ? outFmt : p.GetValue(outFormat), new QedOpenOptions());
                await using (target)
                {
                    if (target.Size < total) throw new CliException($"Output image is too small ({target.Size} bytes, {total} needed)");
                    var copy = new Copier(target, sparseSize, zeroTarget: create);
                    if (p.GetValue(progress) && !p.GetValue(quiet))
                        await ProgressBar.RunAsync(cli.Out, "Converting", report => copy.CopyAllAsync(sources, report, ct));
                    else
                        await copy.CopyAllAsync(sources, null, ct);
                    await target.FlushAsync(ct);
                }
            }
            finally
            {
                foreach (var d in sources) await d.DisposeAsync();
            }
            return 0;
        });
        return cmd;
    }

    private sealed class Copier(IBlockDevice target, long sparseSize, bool zeroTarget)
    {
        private readonly byte[] _buffer = new byte[ChunkSize];

        public async Task CopyAllAsync(List<IBlockDevice> sources, Action<double>? report, CancellationToken ct)
        {
            long total = Math.Max(1, sources.Sum(d => d.Size));
            long outPos = 0;
            foreach (var src in sources)
            {
                for (long pos = 0; pos < src.Size;)
                {
                    var st = await ImageMap.GetStatusAsync(src, pos, Math.Min(ChunkSize, src.Size - pos), ct);
                    long n = st.Length;
                    if (st.Zero && !st.Data)
                    {
                        if (!zeroTarget) await target.WriteZeroesAsync(outPos + pos, n, ct);
                    }
                    else
                    {
                        var part = _buffer.AsMemory(0, (int)n);
                        await src.ReadAsync(pos, part, ct);
                        await WriteSparseAsync(outPos + pos, part, ct);
                    }
                    pos += n;
                    report?.Invoke(100.0 * (outPos + pos) / total);
                }
                outPos += src.Size;
            }
        }

        /// <summary>Writes the data, skipping runs of sparse-size blocks that are all zeros.</summary>
        private async Task WriteSparseAsync(long pos, ReadOnlyMemory<byte> data, CancellationToken ct)
        {
            if (sparseSize == 0)
            {
                await target.WriteAsync(pos, data, ct);
                return;
            }
            int block = (int)sparseSize;
            int i = 0;
            while (i < data.Length)
            {
                int len = Math.Min(block, data.Length - i);
                bool zero = data.Span.Slice(i, len).IndexOfAnyExcept((byte)0) < 0;
                int start = i;
                while (i < data.Length)
                {
                    len = Math.Min(block, data.Length - i);
                    if ((data.Span.Slice(i, len).IndexOfAnyExcept((byte)0) < 0) != zero) break;
                    i += len;
                }
                if (!zero) await target.WriteAsync(pos + start, data[start..i], ct);
                else if (!zeroTarget) await target.WriteZeroesAsync(pos + start, i - start, ct);
            }
        }
    }
}
