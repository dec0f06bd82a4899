namespace Qed.Tests.Support;

/// <summary>Helpers to read whole images through the engine and compare them.</summary>
public static class Images
{
    public static async Task<byte[]> ReadAllAsync(IBlockDevice device)
    {
        var data = new byte[device.Size];
        const int chunk = 1 << 20;
        for (long pos = 0; pos < data.Length; pos += chunk)
            await device.ReadAsync(pos, data.AsMemory((int)pos, (int)Math.Min(chunk, data.Length - pos)));
        return data;
    }

    /// <summary>Reads the image with this engine (backing chain included) from its path.</summary>
    public static async Task<byte[]> ReadAllAsync(string path, string? format = null)
    {
        var device = await ImageOpener.OpenAsync(path, format, new QedOpenOptions { ReadOnly = true });
        await using (device) return await ReadAllAsync(device);
    }

    /// <summary>What QEMU reads: qemu-img convert -O raw of the image, as bytes.</summary>
    public static byte[] QemuReadAll(string path, string dir)
    {
        var raw = System.IO.Path.Combine(dir, "qemu-view-" + Guid.NewGuid().ToString("N")[..8] + ".raw");
        Peers.QemuImgOk("convert", "-O", "raw", path, raw);
        var bytes = File.ReadAllBytes(raw);
        File.Delete(raw);
        return bytes;
    }

    /// <summary>Asserts equal bytes, naming the first differing offset instead of dumping megabytes.</summary>
    public static void AssertSameBytes(byte[] expected, byte[] actual, string what)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: lengths differ");
        int diff = expected.AsSpan().CommonPrefixLength(actual);
        if (diff < expected.Length)
            Assert.Fail($"{what}: first difference at byte {diff} (0x{diff:x}): expected 0x{expected[diff]:x2}, got 0x{actual[diff]:x2}");
    }
}
