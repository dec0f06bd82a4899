using System.CommandLine;
using Qed;

namespace EmuImg;

/// <summary>rebase [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] [-U] -b backing_file [-F backing_fmt] filename</summary>
internal static class RebaseCommand
{
    public static Command Build(EmuImgCli cli)
    {
        var format = EmuImgCli.FormatOption();
        var backing = new Option<string>("-b") { Description = "the new backing file ('' for none)", Required = true };
        var backingFormat = new Option<string>("-F") { Description = "format of the new backing file (probed when absent)" };
        var unsafeOpt = new Option<bool>("-u") { Description = "unsafe: only rewrite the backing file name" };
        var progress = new Option<bool>("-p") { Description = "show a progress bar" };
        var quiet = EmuImgCli.QuietOption();
        var cache = EmuImgCli.CacheOption("-t");
        var srcCache = EmuImgCli.CacheOption("-T");
        var share = EmuImgCli.ForceShareOption();
        var filename = new Argument<string>("filename");
        var cmd = new Command("rebase", "Change the backing file of an image")
            { format, backing, backingFormat, unsafeOpt, progress, quiet, cache, srcCache, share, filename };
        cmd.SetAction(async (p, ct) =>
        {
            string path = p.GetValue(filename)!;
            string? newBacking = p.GetValue(backing);
            if (string.IsNullOrEmpty(newBacking)) newBacking = null;
            string? newFormat = p.GetValue(backingFormat);
            if (newFormat is not null) EmuImgCli.CheckFormat(newFormat);
            bool safe = !p.GetValue(unsafeOpt);
            IBlockDevice device;
            try
            {
                device = await EmuImgCli.OpenAsync(path, p.GetValue(format), new QedOpenOptions { NoBacking = !safe });
            }
            catch (ImageException e) when (safe && e.Message.Contains("Could not open backing file"))
            {
                throw new CliException($"{e.Message} (use -u to rebase without the old backing file)");
            }
            await using (device)
            {
                if (device is not QedImage top) throw new CliException("This image format does not support backing files");
                if (p.GetValue(progress) && !p.GetValue(quiet) && safe)
                    await ProgressBar.RunAsync(cli.Out, "Rebasing", report => ImageOperations.RebaseAsync(top, newBacking, newFormat, safe, new Progress<double>(report), ct));
                else
                    await ImageOperations.RebaseAsync(top, newBacking, newFormat, safe, null, ct);
            }
            return 0;
        });
        return cmd;
    }
}
