using System.CommandLine;
using System.Text;
using Qed;

namespace EmuImg;

/// <summary>info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename</summary>
internal static class InfoCommand
{
    public static Command Build(EmuImgCli cli)
    {
        var format = EmuImgCli.FormatOption();
        var output = EmuImgCli.OutputOption();
        var chain = new Option<bool>("--backing-chain") { Description = "show every image of the backing chain" };
        var share = EmuImgCli.ForceShareOption();
        var filename = new Argument<string>("filename");
        var cmd = new Command("info", "Show information about a disk image") { format, output, chain, share, filename };
        cmd.SetAction(async (p, ct) =>
        {
            string path = p.GetValue(filename)!;
            string? fmt = p.GetValue(format);
            var infos = new List<ImageInfo>();
            var seen = new HashSet<string>();
            while (true)
            {
                if (!seen.Add(Path.GetFullPath(path)))
                    throw new CliException($"Backing file '{path}' creates an infinite loop");
                var info = await ImageInfo.ReadAsync(path, fmt, ct);
                infos.Add(info);
                if (!p.GetValue(chain) || info.FullBackingFilename is null) break;
                path = info.FullBackingFilename;
                fmt = info.BackingFormat;
            }
            bool json = p.GetValue(output) == "json";
            if (json)
            {
                cli.Out.WriteLine(p.GetValue(chain)
                    ? QemuJsonObject.PrettyList(infos.Select(i => i.ToJson()))
                    : infos[0].ToJson().ToPrettyString());
            }
            else
            {
                cli.Out.Write(string.Join("\n", infos.Select(i => i.ToHuman())));
            }
            return 0;
        });
        return cmd;
    }
}

/// <summary>What qemu-img info reports about one image (QAPI ImageInfo).</summary>
internal sealed class ImageInfo
{
    public required string Filename;
    public required string Format;
    public long VirtualSize, ActualSize;
    public long? ClusterSize;
    public bool Dirty;
    public string? BackingFilename, FullBackingFilename, BackingFormat;

    /// <summary>Opens the image alone (no backing file, no repair) and reads its properties.</summary>
    public static async Task<ImageInfo> ReadAsync(string path, string? format, CancellationToken ct)
    {
        var device = await EmuImgCli.OpenAsync(path, format,
            new QedOpenOptions { ReadOnly = true, NoBacking = true, CheckMode = true });
        await using (device)
        {
            switch (device)
            {
                case QedImage q:
                    return new ImageInfo
                    {
                        Filename = path,
                        Format = "qed",
                        VirtualSize = q.Size,
                        ActualSize = q.AllocatedFileBytes,
                        ClusterSize = q.ClusterSize,
                        // QEMU 7.2 reports false here even for a dirty image (its drain clears the bit in
                        // memory on a read-only open); this reports what the header says.
                        Dirty = q.IsDirty,
                        BackingFilename = q.BackingFileName,
                        FullBackingFilename = q.BackingFilePath,
                        BackingFormat = q.BackingFormat,
                    };
                case RawImage r:
                    return new ImageInfo { Filename = path, Format = "raw", VirtualSize = r.Size, ActualSize = r.AllocatedFileBytes };
                default:
                    throw new CliException($"{path}: unknown image type");
            }
        }
    }

    public QemuJsonObject ToJson()
    {
        var o = new QemuJsonObject()
            .Add("filename", Filename)
            .Add("format", Format)
            .Add("dirty-flag", Dirty)
            .Add("actual-size", ActualSize)
            .Add("virtual-size", VirtualSize);
        if (ClusterSize is { } c) o.Add("cluster-size", c);
        if (BackingFilename is not null)
        {
            o.Add("backing-filename", BackingFilename);
            if (FullBackingFilename is not null) o.Add("full-backing-filename", FullBackingFilename);
            if (BackingFormat is not null) o.Add("backing-filename-format", BackingFormat);
        }
        return o;
    }

    public string ToHuman()
    {
        var sb = new StringBuilder();
        sb.Append($"image: {Filename}\n");
        sb.Append($"file format: {Format}\n");
        sb.Append($"virtual size: {Sizes.ToHuman(VirtualSize)} ({VirtualSize} bytes)\n");
        sb.Append($"disk size: {Sizes.ToHuman(ActualSize)}\n");
        if (ClusterSize is { } c) sb.Append($"cluster_size: {c}\n");
        if (Dirty) sb.Append("cleanly shut down: no\n");
        if (BackingFilename is not null)
        {
            sb.Append($"backing file: {BackingFilename}");
            if (FullBackingFilename is not null && FullBackingFilename != BackingFilename)
                sb.Append($" (actual path: {FullBackingFilename})");
            sb.Append('\n');
        }
        if (BackingFormat is not null) sb.Append($"backing file format: {BackingFormat}\n");
        return sb.ToString();
    }
}
