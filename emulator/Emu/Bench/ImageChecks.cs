using System.Text.Json;
using Qed;

namespace Emu.Bench;

/// <summary>After a run: qemu-img check on a QED target, e2fsck -fn on its filesystem, and the file's size.</summary>
internal static class ImageChecks
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    public static async Task<ImageCheck> QemuImgCheckAsync(string image)
    {
        var r = HostTool.Run(HostTool.Find("qemu-img", "qemu-utils"), ["check", "--output=json", "-f", "qed", image], Limit);
        long Get(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.TryGetInt64(out long x) ? x : 0;
        ImageCheck check;
        try
        {
            using var doc = JsonDocument.Parse(r.Stdout);
            var root = doc.RootElement;
            check = new ImageCheck(r.ExitCode, Get(root, "corruptions"), Get(root, "leaks"), Get(root, "check-errors"),
                Get(root, "allocated-clusters"), Get(root, "total-clusters"), Get(root, "image-end-offset"), r.Stdout.Trim());
        }
        catch (JsonException)
        {
            return new ImageCheck(r.ExitCode == 0 ? 1 : r.ExitCode, 0, 0, 1, 0, 0, 0, (r.Stdout + r.Stderr).Trim());
        }
        var image2 = await QedImage.OpenAsync(image, new QedOpenOptions { ReadOnly = true, CheckMode = true, NoBacking = true });
        await using (image2)
        {
            var own = await image2.CheckAsync(repair: false);
            return check with
            {
                EngineLeaks = own.Leaks,
                EngineCorruptions = own.Corruptions + own.CheckErrors,
                PredictedSpuriousLeaks = QemuSpuriousLeaks(image2.FileLength, image2.ClusterSize, (int)image2.Header.HeaderSize),
            };
        }
    }

    /// <summary>
    /// QEMU's qed_bytes_to_clusters divides by cluster_size − 1, so its check marks cluster k at bitmap bit
    /// k + k/(C−1) and reports the bits it skips as leaks once the file holds C−1 clusters or more.
    /// </summary>
    public static long QemuSpuriousLeaks(long fileLength, int clusterSize, int headerClusters)
    {
        long c = clusterSize, n = fileLength / c;
        long buggyTotal = n + n / (c - 1), skipped = 0;
        for (long j = 1; j <= n / (c - 1) + 1; j++)
        {
            long bit = j * (c - 1) + j - 1;
            if (bit >= headerClusters && bit < buggyTotal) skipped++;
        }
        return skipped;
    }

    /// <summary>e2fsck -fn on the image's contents (QED images are converted to a temporary raw file first).</summary>
    public static FsCheck E2fsck(string image, string format, string scratchDir)
    {
        string e2fsck = HostTool.Find("e2fsck", "e2fsprogs");
        string raw = image;
        bool temporary = format != "raw";
        if (temporary)
        {
            raw = Path.Combine(scratchDir, "fsck-" + Path.GetFileNameWithoutExtension(image) + ".raw");
            var c = HostTool.Run(HostTool.Find("qemu-img", "qemu-utils"), ["convert", "-f", format, "-O", "raw", image, raw], Limit);
            if (c.ExitCode != 0) return new FsCheck(c.ExitCode, "qemu-img convert failed: " + c.Stderr.Trim());
        }
        try
        {
            var r = HostTool.Run(e2fsck, ["-fn", raw], Limit);
            return new FsCheck(r.ExitCode, (r.Stdout + r.Stderr).Trim());
        }
        finally
        {
            if (temporary) File.Delete(raw);
        }
    }

    /// <summary>The file's length and the bytes the host allocated to it (st_blocks, as qemu-img's "disk size").</summary>
    public static async Task<(long Length, long Allocated)> FileSizesAsync(string image, string format)
    {
        var device = await ImageOpener.OpenAsync(image, format, new QedOpenOptions { ReadOnly = true, NoBacking = true });
        await using (device)
        {
            return device switch
            {
                QedImage q => (q.FileLength, q.AllocatedFileBytes),
                RawImage r => (r.FileLength, r.AllocatedFileBytes),
                _ => (new FileInfo(image).Length, new FileInfo(image).Length),
            };
        }
    }
}
