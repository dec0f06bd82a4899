using System.CommandLine;
using Qed;

namespace EmuImg;

/// <summary>resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size</summary>
internal static class ResizeCommand
{
    public static Command Build(EmuImgCli cli)
    {
        var format = EmuImgCli.FormatOption();
        var prealloc = new Option<string>("--preallocation") { Description = "only 'off' is supported" };
        var quiet = EmuImgCli.QuietOption();
        var shrink = new Option<bool>("--shrink") { Description = "allow making the image smaller (raw only; QED cannot shrink)" };
        var filename = new Argument<string>("filename");
        var size = new Argument<string>("size") { Description = "new size, or +size / -size relative to the current one" };
        var cmd = new Command("resize", "Change the size of an image") { format, prealloc, quiet, shrink, filename, size };
        cmd.SetAction(async (p, ct) =>
        {
            if (p.GetValue(prealloc) is { } pa && pa != "off")
                throw new CliException($"Unsupported preallocation mode '{pa}' (only 'off')");
            string text = p.GetValue(size)!;
            int sign = text.StartsWith('+') ? 1 : text.StartsWith('-') ? -1 : 0;
            long amount = EmuImgCli.ParseSize(sign == 0 ? text : text[1..]);
            var device = await EmuImgCli.OpenAsync(p.GetValue(filename)!, p.GetValue(format), new QedOpenOptions { NoBacking = true });
            await using (device)
            {
                long target = sign == 0 ? amount : device.Size + sign * amount;
                if (target < 0) throw new CliException("New image size must be positive");
                if (target < device.Size && !p.GetValue(shrink))
                    throw new CliException("Use the --shrink option to perform a shrink operation.");
                await ImageOperations.ResizeAsync(device, target, allowShrink: true, ct);
            }
            if (!p.GetValue(quiet)) cli.Out.WriteLine("Image resized.");
            return 0;
        });
        return cmd;
    }
}
