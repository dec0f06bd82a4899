using System.CommandLine;
using Qed;

namespace EmuImg;

/// <summary>commit [-q] [-f fmt] [-t cache] [-b base] [-d] [-p] filename</summary>
internal static class CommitCommand
{
    public static Command Build(EmuImgCli cli)
    {
        var format = EmuImgCli.FormatOption();
        var cache = EmuImgCli.CacheOption("-t");
        var baseOpt = new Option<string>("-b") { Description = "commit into this image of the backing chain (default: the backing file)" };
        var drop = new Option<bool>("-d") { Description = "do not empty the image afterwards (QED images are never emptied)" };
        var progress = new Option<bool>("-p") { Description = "show a progress bar" };
        var quiet = EmuImgCli.QuietOption();
        var filename = new Argument<string>("filename");
        var cmd = new Command("commit", "Write an image's changes into its backing file") { format, cache, baseOpt, drop, progress, quiet, filename };
        cmd.SetAction(async (p, ct) =>
        {
            string path = p.GetValue(filename)!;
            string? fmt = p.GetValue(format);
            string? backingPath;
            var peek = await EmuImgCli.OpenAsync(path, fmt, new QedOpenOptions { ReadOnly = true, NoBacking = true, CheckMode = true });
            await using (peek) backingPath = (peek as QedImage)?.BackingFilePath;
            if (backingPath is null) throw new CliException("Image does not have a backing file");
            if (p.GetValue(baseOpt) is { } b && Path.GetFullPath(b) != Path.GetFullPath(backingPath))
                throw new CliException($"'{b}' is not the backing file of '{path}' (only the immediate backing file can be committed into)");

            var device = await EmuImgCli.OpenAsync(path, fmt, new QedOpenOptions { WritableBackingPath = backingPath });
            await using (device)
            {
                var top = (QedImage)device;
                if (p.GetValue(progress) && !p.GetValue(quiet))
                    await ProgressBar.RunAsync(cli.Out, "Committing", report => ImageOperations.CommitAsync(top, new Progress<double>(report), ct));
                else
                    await ImageOperations.CommitAsync(top, null, ct);
            }
            if (!p.GetValue(quiet)) cli.Out.WriteLine("Image committed.");
            return 0;
        });
        return cmd;
    }
}
