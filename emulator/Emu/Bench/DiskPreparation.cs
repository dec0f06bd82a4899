using Qed;

namespace Emu.Bench;

/// <summary>
/// Makes the target disks: one fresh ext4 (mke2fs on a sparse raw file, inode tables and journal
/// zeroed now so the guest kernel starts no lazy initialisation), then each configuration's initial image
/// from it through this project's QED engine, and a sparse copy of that for every run.
/// </summary>
internal static class DiskPreparation
{
    private const int Block = 4096;

    /// <summary>The fresh filesystem as a raw file of <paramref name="bytes"/> bytes.</summary>
    public static string MakeTemplate(string dir, long bytes)
    {
        string path = Path.Combine(dir, "fresh-ext4.raw");
        string mke2fs = HostTool.Find("mke2fs", "e2fsprogs");
        File.Delete(path);
        var r = HostTool.Run(mke2fs, ["-q", "-F", "-t", "ext4", "-L", "target",
            "-E", "lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0", path, $"{bytes / 1024}k"], TimeSpan.FromMinutes(5));
        if (r.ExitCode != 0) throw new BenchException($"mke2fs failed on {path}: {r.Stderr.Trim()}");
        return path;
    }

    /// <summary>The configuration's initial target image in <paramref name="dir"/> (for an overlay, its base too).</summary>
    public static async Task<string> PrepareAsync(DiskConfig config, string template, string dir)
    {
        long size = new FileInfo(template).Length;
        if (!config.IsQed)
        {
            string raw = Path.Combine(dir, $"initial-{config.Name}.img");
            SparseCopy(template, raw);
            return raw;
        }
        string path = Path.Combine(dir, $"initial-{config.Name}.qed");
        if (!config.Overlay)
        {
            await ConvertAsync(template, path, config.ClusterSize);
            return path;
        }
        string baseName = $"base-{config.Name}.qed";
        await ConvertAsync(template, Path.Combine(dir, baseName), config.ClusterSize);
        await QedImage.CreateAsync(path, new QedCreateOptions { Size = size, ClusterSize = config.ClusterSize, BackingFile = baseName });
        return path;
    }

    /// <summary>A QED image with the raw file's non-zero 4 KiB blocks written through the engine.</summary>
    private static async Task ConvertAsync(string raw, string qed, uint clusterSize)
    {
        long size = new FileInfo(raw).Length;
        await QedImage.CreateAsync(qed, new QedCreateOptions { Size = size, ClusterSize = clusterSize });
        await using var image = await QedImage.OpenAsync(qed);
        await using var source = File.OpenRead(raw);
        var buffer = new byte[1 << 20];
        for (long pos = 0; pos < size;)
        {
            int n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, size - pos));
            if (n <= 0) throw new BenchException($"{raw}: unexpected end of file at byte {pos}");
            for (int i = 0; i < n; i += Block)
            {
                int len = Math.Min(Block, n - i);
                if (buffer.AsSpan(i, len).IndexOfAnyExcept((byte)0) >= 0)
                    await image.WriteAsync(pos + i, buffer.AsMemory(i, len));
            }
            pos += n;
        }
        await image.FlushAsync();
    }

    /// <summary>Copies a file, leaving holes where the source has 4 KiB blocks of zeros.</summary>
    public static void SparseCopy(string from, string to)
    {
        using var src = File.OpenRead(from);
        using var dst = new FileStream(to, FileMode.Create, FileAccess.Write);
        var buffer = new byte[1 << 20];
        long pos = 0;
        int n;
        while ((n = src.Read(buffer, 0, buffer.Length)) > 0)
        {
            for (int i = 0; i < n; i += Block)
            {
                int len = Math.Min(Block, n - i);
                if (buffer.AsSpan(i, len).IndexOfAnyExcept((byte)0) < 0) continue;
                dst.Position = pos + i;
                dst.Write(buffer, i, len);
            }
            pos += n;
        }
        dst.SetLength(pos);
    }
}
