using System.Buffers.Binary;
using System.Text;

namespace Qed.Tests.Fuzzing;

/// <summary>
/// A deterministic, structure-aware mutator for QED images: it knows where the header fields, the L1
/// table, the L2 tables and the backing name are, and sets them to values that sit on the edges of
/// what QEMU and this engine check (0, 1, all ones, 2^63, one past the end of the file, the header, the
/// L1 table itself, unaligned offsets...), besides plain byte flips, truncation, extension and splicing.
/// </summary>
public static class ImageMutator
{
    /// <summary>Header field offsets and widths (QED spec, "Header").</summary>
    private static readonly (int Offset, int Width)[] Fields =
    [
        (0, 4), (4, 4), (8, 4), (12, 4), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8), (56, 4), (60, 4),
    ];

    private static readonly ulong[] Interesting =
    [
        0, 1, 2, 3, 7, 8, 16, 63, 64, 65, 511, 512, 513, 4095, 4096, 4097, 65535, 65536, 65537,
        1UL << 20, 1UL << 26, (1UL << 26) + 1, 1UL << 27, 1UL << 30, 1UL << 31, (1UL << 31) - 1, uint.MaxValue, 1UL << 32,
        1UL << 40, 1UL << 50, (1UL << 62), (1UL << 63) - 512, 1UL << 63, (1UL << 63) + 512, ulong.MaxValue - 511, ulong.MaxValue,
    ];

    /// <summary>Applies one to four mutations to a copy of <paramref name="seed"/>.</summary>
    public static byte[] Mutate(byte[] seed, Random rng, IReadOnlyList<string> names)
    {
        var image = (byte[])seed.Clone();
        int count = rng.Next(1, 5);
        for (int i = 0; i < count; i++) image = MutateOnce(image, rng, names);
        return image;
    }

    private static byte[] MutateOnce(byte[] b, Random rng, IReadOnlyList<string> names)
    {
        if (b.Length < 64) return rng.Next(2) == 0 ? Extend(b, rng) : FlipBytes(b, rng);
        return rng.Next(100) switch
        {
            < 22 => SetHeaderField(b, rng),
            < 38 => SetTableEntry(b, rng, l2: false),
            < 58 => SetTableEntry(b, rng, l2: true),
            < 68 => SetBackingName(b, rng, names),
            < 74 => Truncate(b, rng),
            < 78 => Extend(b, rng),
            < 92 => FlipBytes(b, rng),
            _ => Splice(b, rng),
        };
    }

    private static ulong Value(Random rng, ulong current, ulong fileLength, ulong cluster)
    {
        return rng.Next(10) switch
        {
            < 4 => Interesting[rng.Next(Interesting.Length)],
            4 => current + (ulong)rng.Next(-2, 3),
            5 => current * 2,
            6 => fileLength + (ulong)rng.Next(-1, 2) * cluster,                     // at, just before, just past the end
            7 => (ulong)rng.NextInt64(0, (long)Math.Max(1, fileLength / Math.Max(1, cluster))) * cluster,   // some cluster of the file
            8 => (ulong)rng.NextInt64(0, (long)Math.Max(1, fileLength)),           // unaligned, inside the file
            _ => (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 40),
        };
    }

    private static byte[] SetHeaderField(byte[] b, Random rng)
    {
        var (offset, width) = Fields[rng.Next(Fields.Length)];
        ulong cluster = Math.Max(512, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4)));
        ulong current = width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(offset)) : BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(offset));
        ulong v = Value(rng, current, (ulong)b.Length, cluster);
        if (offset == 16 && rng.Next(2) == 0) v = current ^ (1UL << rng.Next(0, 8));   // features: toggle a known bit
        if (width == 4) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(offset), (uint)v);
        else BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(offset), v);
        return b;
    }

    /// <summary>The image's geometry as its header says, or null when the header is too broken to find tables.</summary>
    private static (ulong Cluster, int Entries, long L1)? Geometry(byte[] b)
    {
        uint cluster = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4));
        uint table = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8));
        ulong l1 = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(40));
        if (cluster is < 512 or > 1 << 26 || table is 0 or > 16) return null;
        long entries = (long)cluster * table / 8;
        if (l1 >= (ulong)b.Length || entries > 1 << 20) return null;
        return (cluster, (int)entries, (long)l1);
    }

    private static byte[] SetTableEntry(byte[] b, Random rng, bool l2)
    {
        if (Geometry(b) is not { } g) return FlipBytes(b, rng);
        long table = g.L1;
        if (l2)
        {
            // A table some L1 entry points at, inside the file.
            var tables = new List<long>();
            for (int i = 0; i < g.Entries && g.L1 + i * 8L + 8 <= b.Length; i++)
            {
                ulong e = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan((int)(g.L1 + i * 8L)));
                if (e != 0 && e < (ulong)b.Length) tables.Add((long)e);
            }
            if (tables.Count == 0) return SetTableEntry(b, rng, l2: false);
            table = tables[rng.Next(tables.Count)];
        }
        // Mostly the first entries (where the seed images keep their data), sometimes any.
        int index = rng.Next(3) == 0 ? rng.Next(g.Entries) : rng.Next(Math.Min(g.Entries, 64));
        long at = table + index * 8L;
        if (at + 8 > b.Length) return b;
        ulong current = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan((int)at));
        ulong v = rng.Next(6) switch
        {
            0 => (ulong)g.L1,                                    // the L1 table itself
            1 => (ulong)rng.Next(0, 2),                          // unallocated, zero cluster
            2 => (ulong)table,                                   // this very table
            _ => Value(rng, current, (ulong)b.Length, g.Cluster),
        };
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)at), v);
        return b;
    }

    private static byte[] SetBackingName(byte[] b, Random rng, IReadOnlyList<string> names)
    {
        string name = rng.Next(4) switch
        {
            0 => names[rng.Next(names.Count)],
            1 => "../" + names[rng.Next(names.Count)],
            2 => "/fuzz/" + names[rng.Next(names.Count)],
            _ => new string(Enumerable.Range(0, rng.Next(0, 40)).Select(_ => (char)rng.Next(1, 256)).ToArray()),
        };
        byte[] bytes = Encoding.UTF8.GetBytes(name);
        if (rng.Next(8) == 0 && bytes.Length > 0) bytes[rng.Next(bytes.Length)] = 0;
        uint offset = rng.Next(4) == 0 ? (uint)Value(rng, 64, (ulong)b.Length, 4096) : 64;
        uint size = rng.Next(4) == 0 ? (uint)Value(rng, (ulong)bytes.Length, (ulong)b.Length, 4096) : (uint)bytes.Length;
        if (offset < b.Length) bytes.AsSpan(0, (int)Math.Min(bytes.Length, b.Length - offset)).CopyTo(b.AsSpan((int)offset));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(56), offset);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(60), size);
        ulong features = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16));
        features = rng.Next(3) switch { 0 => features | 1, 1 => features | 5, _ => features & ~4UL | 1 };
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), features);
        return b;
    }

    private static byte[] Truncate(byte[] b, Random rng)
    {
        int length = rng.Next(3) switch
        {
            0 => rng.Next(0, Math.Min(b.Length, 600)),            // inside the header
            1 => b.Length - rng.Next(1, Math.Min(b.Length, 5000)), // the last cluster, partly
            _ => rng.Next(0, b.Length),
        };
        return b.AsSpan(0, Math.Max(0, length)).ToArray();
    }

    private static byte[] Extend(byte[] b, Random rng)
    {
        int extra = rng.Next(3) switch { 0 => rng.Next(1, 512), 1 => 4096 * rng.Next(1, 5), _ => rng.Next(1, 70000) };
        var grown = new byte[b.Length + extra];
        b.CopyTo(grown, 0);
        if (rng.Next(2) == 0) rng.NextBytes(grown.AsSpan(b.Length));
        return grown;
    }

    private static byte[] FlipBytes(byte[] b, Random rng)
    {
        if (b.Length == 0) return b;
        int n = rng.Next(1, 9);
        for (int i = 0; i < n; i++)
        {
            // Mostly in the first clusters (header, L1, first L2 tables), sometimes anywhere.
            int at = rng.Next(3) == 0 ? rng.Next(b.Length) : rng.Next(Math.Min(b.Length, 4 * 4096));
            b[at] = rng.Next(3) switch { 0 => (byte)(b[at] ^ (1 << rng.Next(8))), 1 => 0xFF, _ => (byte)rng.Next(256) };
        }
        return b;
    }

    /// <summary>Copies one 512-byte-aligned block over another: a table over data, data over a table.</summary>
    private static byte[] Splice(byte[] b, Random rng)
    {
        if (b.Length < 1024) return FlipBytes(b, rng);
        int len = Math.Min(b.Length / 2, 512 << rng.Next(0, 4));
        int from = rng.Next(0, (b.Length - len) / 512 + 1) * 512;
        int to = rng.Next(0, (b.Length - len) / 512 + 1) * 512;
        b.AsSpan(from, len).ToArray().CopyTo(b.AsSpan(to));
        return b;
    }
}
