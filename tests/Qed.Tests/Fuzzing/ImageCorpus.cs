using Qed.Tests.PowerCut;
using Qed.Tests.Support;

namespace Qed.Tests.Fuzzing;

/// <summary>
/// The seed images the fuzzer mutates, made by this engine in memory: several cluster and table sizes,
/// L2 tables, data, zero clusters, backing names (raw and probed), a dirty image cut mid-session and
/// an empty one; and the files of the sandbox their backing names can reach.
/// </summary>
public sealed class ImageCorpus
{
    public const string Folder = "/fuzz";
    public const string ImageName = "image.qed";

    /// <summary>Seed images.</summary>
    public IReadOnlyList<byte[]> Seeds { get; }
    /// <summary>Other files in the sandbox folder, by name: backing files, and the names that lead nowhere.</summary>
    public IReadOnlyDictionary<string, byte[]> Files { get; }
    /// <summary>Names a mutated backing name may take.</summary>
    public IReadOnlyList<string> Names { get; }

    private ImageCorpus(List<byte[]> seeds, Dictionary<string, byte[]> files)
    {
        Seeds = seeds;
        Files = files;
        Names = [.. files.Keys, ImageName, "missing.raw", "dir/nested.qed", ""];
    }

    public static ImageCorpus Build() => BuildAsync().GetAwaiter().GetResult();

    private static async Task<ImageCorpus> BuildAsync()
    {
        var baseRaw = new byte[96 * 1024];
        for (int s = 0; s < baseRaw.Length / 512; s++) GuestDiskModel.Stamp(baseRaw.AsSpan(s * 512, 512), -1, s);
        var files = new Dictionary<string, byte[]> { ["base.raw"] = baseRaw };
        files["base.qed"] = await MakeAsync(new QedCreateOptions { Size = 128 * 1024, ClusterSize = 4096, TableSize = 1, BackingFile = "base.raw", BackingFormat = "raw" },
            files, 1, 4);
        files["chain.qed"] = await MakeAsync(new QedCreateOptions { Size = 160 * 1024, ClusterSize = 4096, TableSize = 2, BackingFile = "base.qed" },
            files, 2, 3);

        var seeds = new List<byte[]>
        {
            await MakeAsync(new QedCreateOptions { Size = 4 << 20, ClusterSize = 4096, TableSize = 1 }, files, 3, 10),
            await MakeAsync(new QedCreateOptions { Size = 8 << 20, ClusterSize = 4096, TableSize = 4 }, files, 4, 6),
            await MakeAsync(new QedCreateOptions { Size = 1 << 20, ClusterSize = 4096, TableSize = 2, BackingFile = "base.raw", BackingFormat = "raw" }, files, 5, 8),
            await MakeAsync(new QedCreateOptions { Size = 512 * 1024, ClusterSize = 8192, TableSize = 1, BackingFile = "chain.qed" }, files, 6, 5),
            await MakeAsync(new QedCreateOptions { Size = 64 << 20, ClusterSize = 65536, TableSize = 1 }, files, 7, 3),
            await MakeAsync(new QedCreateOptions { Size = 2 << 20, ClusterSize = 4096, TableSize = 1 }, files, 8, 0),
            await MakeAsync(new QedCreateOptions { Size = 0, ClusterSize = 4096, TableSize = 1 }, files, 9, 0),
            await MakeDirtyAsync(),
        };
        return new ImageCorpus(seeds, files);
    }

    /// <summary>A fresh image with <paramref name="writes"/> random writes and a few write-zeroes, closed in order.</summary>
    private static async Task<byte[]> MakeAsync(QedCreateOptions create, Dictionary<string, byte[]> files, int seed, int writes)
    {
        var violations = new List<string>();
        var file = new SandboxFile($"{Folder}/seed.qed", [], writable: true, limit: 1 << 28, violations);
        await QedImage.CreateAsync(file, create);
        var image = await QedImage.OpenAsync(file, new QedOpenOptions
        {
            TimeProvider = new ManualTimeProvider(),
            BackingOpener = (path, format, _) => ImageFuzzer.OpenSandboxFileAsync(path, format, files, violations, depth: 1),
        });
        var rng = new Random(seed);
        for (int i = 0; i < writes && image.Size > 0; i++)
        {
            int len = rng.Next(1, 3 * image.ClusterSize / 512) * 512;
            long at = rng.NextInt64(0, (image.Size - len) / 512 + 1) * 512;
            if (i % 4 == 3) await image.WriteZeroesAsync(at / image.ClusterSize * image.ClusterSize, Math.Min(image.ClusterSize * 2L, image.Size - at / image.ClusterSize * image.ClusterSize));
            else
            {
                var data = new byte[len];
                for (int s = 0; s < len / 512; s++) GuestDiskModel.Stamp(data.AsSpan(s * 512, 512), seed * 100 + i, at / 512 + s);
                await image.WriteAsync(at, data);
            }
        }
        await image.DisposeAsync();
        if (violations.Count > 0) throw new InvalidOperationException(violations[0]);
        return file.ToArray();
    }

    /// <summary>An image whose session was cut after a flush: need-check set, tables written.</summary>
    private static async Task<byte[]> MakeDirtyAsync()
    {
        var file = new RecordingImageFile($"{Folder}/dirty.qed");
        await QedImage.CreateAsync(file, new QedCreateOptions { Size = 2 << 20, ClusterSize = 4096, TableSize = 1 });
        var image = await QedImage.OpenAsync(file, new QedOpenOptions { TimeProvider = new ManualTimeProvider() });
        var data = new byte[8192];
        new Random(10).NextBytes(data);
        await image.WriteAsync(0, data);
        await image.WriteAsync(1 << 20, data);
        await image.FlushAsync();
        await image.WriteAsync(300 * 1024, data);
        return file.ToArray();   // not closed: the bit stays set
    }
}
