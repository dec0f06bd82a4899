using System.CommandLine;
using Qed;

namespace EmuImg;

/// <summary>create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]</summary>
internal static class CreateCommand
{
    public static Command Build(EmuImgCli cli)
    {
        var format = EmuImgCli.FormatOption(description: "format of the new image: qed or raw (default raw)");
        var backing = new Option<string>("-b") { Description = "backing file (stored as given; relative names are relative to the new image's folder)" };
        var backingFormat = new Option<string>("-F") { Description = "backing file format (qed or raw); required with -b" };
        var unsafeOpt = new Option<bool>("-u") { Description = "do not open the backing file to check it" };
        var options = new Option<string[]>("-o") { Description = "format options: size=, cluster_size=, table_size=, backing_file=, backing_fmt= ('-o help' lists them)" };
        var quiet = EmuImgCli.QuietOption();
        var filename = new Argument<string>("filename");
        var size = new Argument<string?>("size") { Arity = ArgumentArity.ZeroOrOne };
        var cmd = new Command("create", "Create a new disk image") { format, backing, backingFormat, unsafeOpt, options, quiet, filename, size };
        cmd.SetAction(async (p, ct) =>
        {
            string fmt = p.GetValue(format) ?? "raw";
            EmuImgCli.CheckFormat(fmt);
            var opts = FormatOptions.Parse(p.GetValue(options), fmt, out bool help);
            if (help)
            {
                cli.Out.Write(FormatOptions.Help(fmt));
                return 0;
            }
            string file = p.GetValue(filename)!;
            string? backingFile = p.GetValue(backing) ?? opts.BackingFile;
            string? backingFmt = p.GetValue(backingFormat) ?? opts.BackingFormat;
            long? imageSize = p.GetValue(size) is { } s ? EmuImgCli.ParseSize(s) : opts.Size;
            if (backingFmt is not null) EmuImgCli.CheckFormat(backingFmt);
            if (fmt == "raw" && backingFile is not null)
                throw new CliException($"{file}: Backing file not supported for file format 'raw'");
            if (backingFile is not null && backingFmt is null)
                throw new CliException($"{file}: Backing file specified without backing format");

            if (backingFile is not null && (!p.GetValue(unsafeOpt) || imageSize is null))
            {
                string path = QedImage.ResolveBackingPath(file, backingFile);
                try
                {
                    var b = await ImageOpener.OpenAsync(path, backingFmt, new QedOpenOptions { ReadOnly = true }, ct);
                    await using (b) imageSize ??= b.Size;
                }
                catch (ImageException e)
                {
                    throw new CliException($"{file}: {e.Message}");
                }
            }
            if (imageSize is null) throw new CliException($"{file}: Image creation needs a size parameter");

            if (!p.GetValue(quiet))
            {
                string line = $"Formatting '{file}', fmt={fmt} size={imageSize}";
                if (fmt == "qed")
                {
                    if (backingFile is not null) line += $" backing_file={backingFile} backing_fmt={backingFmt}";
                    line += $" cluster_size={opts.ClusterSize ?? QedHeader.DefaultClusterSize}";
                    if (opts.TableSize is { } t) line += $" table_size={t}";
                }
                cli.Out.WriteLine(line);
            }
            try
            {
                if (fmt == "raw")
                    await RawImage.CreateAsync(file, imageSize.Value, ct);
                else
                    await QedImage.CreateAsync(file, new QedCreateOptions
                    {
                        Size = imageSize.Value,
                        ClusterSize = opts.ClusterSize ?? QedHeader.DefaultClusterSize,
                        TableSize = opts.TableSize ?? QedHeader.DefaultTableSize,
                        BackingFile = backingFile,
                        BackingFormat = backingFmt,
                    }, ct);
            }
            catch (ImageException e)
            {
                throw new CliException($"{file}: {e.Message}");
            }
            return 0;
        });
        return cmd;
    }
}

/// <summary>The -o option list: "name=value,name=value" (",," is a literal comma), as qemu-img reads it.</summary>
internal sealed class FormatOptions
{
    public long? Size;
    public uint? ClusterSize, TableSize;
    public string? BackingFile, BackingFormat;

    public static FormatOptions Parse(string[]? lists, string format, out bool help)
    {
        var o = new FormatOptions();
        help = false;
        foreach (var list in lists ?? [])
        {
            foreach (var item in Split(list))
            {
                if (item is "help" or "?")
                {
                    help = true;
                    continue;
                }
                int eq = item.IndexOf('=');
                string name = eq < 0 ? item : item[..eq];
                string? value = eq < 0 ? null : item[(eq + 1)..];
                string need() => value ?? throw new CliException($"Parameter '{name}' expects a value");
                switch (name)
                {
                    case "size":
                        o.Size = EmuImgCli.ParseSize(need());
                        break;
                    case "cluster_size" when format == "qed":
                        o.ClusterSize = ParseUInt(name, need());
                        break;
                    case "table_size" when format == "qed":
                        o.TableSize = ParseUInt(name, need());
                        break;
                    case "backing_file" when format == "qed":
                        o.BackingFile = need();
                        break;
                    case "backing_fmt" when format == "qed":
                        o.BackingFormat = need();
                        break;
                    case "preallocation":
                        if (need() != "off") throw new CliException($"Unsupported preallocation mode '{value}' (only 'off')");
                        break;
                    default:
                        throw new CliException($"Invalid parameter '{name}'");
                }
            }
        }
        return o;
    }

    private static uint ParseUInt(string name, string value)
    {
        long v = Sizes.TryParse(value) ?? -1;
        if (v < 0 || v > uint.MaxValue) throw new CliException($"Parameter '{name}' expects a size, not '{value}'");
        return (uint)v;
    }

    private static IEnumerable<string> Split(string list)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < list.Length; i++)
        {
            if (list[i] == ',')
            {
                if (i + 1 < list.Length && list[i + 1] == ',')
                {
                    sb.Append(',');
                    i++;
                    continue;
                }
                if (sb.Length > 0) yield return sb.ToString();
                sb.Clear();
                continue;
            }
            sb.Append(list[i]);
        }
        if (sb.Length > 0) yield return sb.ToString();
    }

    public static string Help(string format) => format == "qed"
        ? """
          Supported options:
            backing_file=<str>     - File name of a base image
            backing_fmt=<str>      - Image format of the base image
            cluster_size=<size>    - Cluster size (in bytes)
            size=<size>            - Virtual disk size
            table_size=<size>      - L1/L2 table size (in clusters)

          """
        : """
          Supported options:
            preallocation=<str>    - Preallocation mode (allowed values: off)
            size=<size>            - Virtual disk size

          """;
}
