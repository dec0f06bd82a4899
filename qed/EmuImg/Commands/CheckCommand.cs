using System.CommandLine;
using Qed;

namespace EmuImg;

/// <summary>
/// check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-U] filename. Exit codes as qemu-img's:
/// 0 clean, 1 check failed, 2 corruptions, 3 leaks only, 63 format cannot be checked.
/// </summary>
internal static class CheckCommand
{
    public static Command Build(EmuImgCli cli)
    {
        var format = EmuImgCli.FormatOption();
        var output = EmuImgCli.OutputOption();
        var repair = new Option<string>("-r") { Description = "repair: leaks or all (both fix everything QED can fix)" };
        repair.AcceptOnlyFromAmong("leaks", "all");
        var quiet = EmuImgCli.QuietOption();
        var cache = EmuImgCli.CacheOption("-T");
        var share = EmuImgCli.ForceShareOption();
        var filename = new Argument<string>("filename");
        var cmd = new Command("check", "Check a disk image for consistency") { format, output, repair, quiet, cache, share, filename };
        cmd.SetAction(async (p, ct) =>
        {
            string path = p.GetValue(filename)!;
            bool fix = p.GetValue(repair) is not null;
            bool quietMode = p.GetValue(quiet);
            bool json = p.GetValue(output) == "json";
            var device = await EmuImgCli.OpenAsync(path, p.GetValue(format),
                new QedOpenOptions { ReadOnly = !fix, NoBacking = true, CheckMode = true });
            await using (device)
            {
                if (device is not QedImage image)
                    throw new CliException("This image format does not support checks", 63);
                CheckResult result;
                try
                {
                    result = await image.CheckAsync(fix, ct);
                    if (result.CorruptionsFixed > 0 || result.LeaksFixed > 0)
                    {
                        if (!json && !quietMode)
                            cli.Out.Write("The following inconsistencies were found and repaired:\n\n" +
                                $"    {result.LeaksFixed} leaked clusters\n    {result.CorruptionsFixed} corruptions\n\n" +
                                "Double checking the fixed image now...\n");
                        var again = await image.CheckAsync(repair: false, ct);
                        again.LeaksFixed = result.LeaksFixed;
                        again.CorruptionsFixed = result.CorruptionsFixed;
                        result = again;
                    }
                }
                catch (ImageException e)
                {
                    throw new CliException($"Check failed: {e.Message}");
                }
                if (!quietMode) cli.Out.Write(json ? Json(path, result) + "\n" : Human(result));
                if (result.CheckErrors > 0) throw new CliException("Check failed");
                return result.Corruptions > 0 ? 2 : result.Leaks > 0 ? 3 : 0;
            }
        });
        return cmd;
    }

    private static string Human(CheckResult r)
    {
        var sb = new System.Text.StringBuilder();
        if (r.Corruptions == 0 && r.Leaks == 0 && r.CheckErrors == 0)
        {
            sb.Append("No errors were found on the image.\n");
        }
        else
        {
            if (r.Corruptions > 0)
                sb.Append($"\n{r.Corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n");
            if (r.Leaks > 0)
                sb.Append($"\n{r.Leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n");
            if (r.CheckErrors > 0)
                sb.Append($"\n{r.CheckErrors} internal errors have occurred during the check.\n");
        }
        if (r.TotalClusters != 0 && r.AllocatedClusters != 0)
            sb.Append($"{r.AllocatedClusters}/{r.TotalClusters} = {CFormat.Fixed(r.AllocatedClusters * 100.0 / r.TotalClusters, 2)}% allocated, " +
                      $"{CFormat.Fixed(r.FragmentedClusters * 100.0 / r.AllocatedClusters, 2)}% fragmented, {CFormat.Fixed(0, 2)}% compressed clusters\n");
        return sb.ToString();
    }

    /// <summary>QAPI ImageCheck: zero counters other than check-errors are left out, as QEMU does.</summary>
    private static string Json(string path, CheckResult r)
    {
        var o = new QemuJsonObject().Add("filename", path).Add("format", "qed").Add("check-errors", r.CheckErrors);
        if (r.Corruptions != 0) o.Add("corruptions", r.Corruptions);
        if (r.Leaks != 0) o.Add("leaks", r.Leaks);
        if (r.CorruptionsFixed != 0) o.Add("corruptions-fixed", r.CorruptionsFixed);
        if (r.LeaksFixed != 0) o.Add("leaks-fixed", r.LeaksFixed);
        if (r.TotalClusters != 0) o.Add("total-clusters", r.TotalClusters);
        if (r.AllocatedClusters != 0) o.Add("allocated-clusters", r.AllocatedClusters);
        if (r.FragmentedClusters != 0) o.Add("fragmented-clusters", r.FragmentedClusters);
        return o.ToPrettyString();
    }
}
