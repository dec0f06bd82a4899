using System.Buffers.Binary;

namespace Qed.Tests.Support;

/// <summary>Pokes at an image file's bytes to inject faults (leaks, bad offsets, double references).</summary>
public sealed class ImagePatcher
{
    private readonly string _path;

    public ImagePatcher(string path)
    {
        _path = path;
        Header = QedHeader.Parse(Read(0, 64));
    }

    public QedHeader Header { get; private set; }
    public long ClusterSize => Header.ClusterSize;
    public long L1Offset => (long)Header.L1TableOffset;
    public long FileLength => new FileInfo(_path).Length;

    public byte[] Read(long offset, int length)
    {
        using var f = File.OpenRead(_path);
        var b = new byte[length];
        f.Position = offset;
        f.ReadExactly(b);
        return b;
    }

    public void Write(long offset, ReadOnlySpan<byte> bytes)
    {
        using var f = new FileStream(_path, FileMode.Open, FileAccess.Write);
        f.Position = offset;
        f.Write(bytes);
    }

    public ulong ReadU64(long offset) => BinaryPrimitives.ReadUInt64LittleEndian(Read(offset, 8));

    public void WriteU64(long offset, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Write(offset, b);
    }

    public ulong L1(int index) => ReadU64(L1Offset + index * 8L);
    public void SetL1(int index, ulong value) => WriteU64(L1Offset + index * 8L, value);
    public ulong L2(int l1Index, int index) => ReadU64((long)L1(l1Index) + index * 8L);
    public void SetL2(int l1Index, int index, ulong value) => WriteU64((long)L1(l1Index) + index * 8L, value);

    public void SetFeatures(QedFeatures features)
    {
        var h = Header;
        h.Features = features;
        var b = new byte[64];
        h.WriteTo(b);
        Write(0, b);
        Header = h;
    }

    /// <summary>Appends <paramref name="clusters"/> clusters of a pattern at the end: leaked clusters.</summary>
    public void AppendClusters(int clusters, byte pattern = 0xee)
    {
        var data = new byte[clusters * ClusterSize];
        Array.Fill(data, pattern);
        Write(FileLength, data);
    }

    public static byte[] Hash(string path) => System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path));
}
