using System.Buffers.Binary;
using System.Numerics;

namespace Qed;

/// <summary>QED feature bits (QED spec, "Feature bits"; QEMU block/qed.h).</summary>
[Flags]
public enum QedFeatures : ulong
{
    None = 0,
    /// <summary>A backing file name is stored in the header area.</summary>
    BackingFile = 0x01,
    /// <summary>The image may be inconsistent and must be checked before use (the dirty bit).</summary>
    NeedCheck = 0x02,
    /// <summary>The backing file is raw: do not probe its format.</summary>
    BackingFormatNoProbe = 0x04,
    /// <summary>Every incompatible feature this implementation knows.</summary>
    Known = BackingFile | NeedCheck | BackingFormatNoProbe,
}

/// <summary>
/// The 64-byte QED header at the start of cluster 0 (QED spec, "Header"), little-endian, every field.
/// </summary>
public struct QedHeader
{
    public const uint Magic = 0x00444551;          // "QED\0"
    public const int Size = 64;
    public const uint MinClusterSize = 4096, MaxClusterSize = 64u << 20, DefaultClusterSize = 65536;
    public const uint MinTableSize = 1, MaxTableSize = 16, DefaultTableSize = 4;
    /// <summary>Longest backing file name accepted (QEMU's PATH_MAX-sized buffer).</summary>
    public const int MaxBackingNameLength = 4095;
    /// <summary>Compatible and autoclear bits QEMU (and this engine) know: none are defined.</summary>
    public const ulong KnownCompatFeatures = 0, KnownAutoclearFeatures = 0;

    public uint MagicValue;
    public uint ClusterSize;
    public uint TableSize;
    public uint HeaderSize;
    public QedFeatures Features;
    public ulong CompatFeatures;
    public ulong AutoclearFeatures;
    public ulong L1TableOffset;
    public ulong ImageSize;
    public uint BackingFilenameOffset;
    public uint BackingFilenameSize;

    public readonly bool HasBackingFile => (Features & QedFeatures.BackingFile) != 0;
    public readonly bool NeedsCheck => (Features & QedFeatures.NeedCheck) != 0;
    public readonly bool BackingIsRaw => (Features & QedFeatures.BackingFormatNoProbe) != 0;
    /// <summary>Bytes reserved for the header, the backing name and other header data.</summary>
    public readonly ulong HeaderAreaBytes => (ulong)HeaderSize * ClusterSize;

    public static QedHeader Parse(ReadOnlySpan<byte> b)
    {
        if (b.Length < Size) throw new ArgumentException("a QED header is 64 bytes", nameof(b));
        return new QedHeader
        {
            MagicValue = BinaryPrimitives.ReadUInt32LittleEndian(b),
            ClusterSize = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
            TableSize = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]),
            HeaderSize = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]),
            Features = (QedFeatures)BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
            CompatFeatures = BinaryPrimitives.ReadUInt64LittleEndian(b[24..]),
            AutoclearFeatures = BinaryPrimitives.ReadUInt64LittleEndian(b[32..]),
            L1TableOffset = BinaryPrimitives.ReadUInt64LittleEndian(b[40..]),
            ImageSize = BinaryPrimitives.ReadUInt64LittleEndian(b[48..]),
            BackingFilenameOffset = BinaryPrimitives.ReadUInt32LittleEndian(b[56..]),
            BackingFilenameSize = BinaryPrimitives.ReadUInt32LittleEndian(b[60..]),
        };
    }

    public readonly void WriteTo(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, MagicValue);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], ClusterSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], TableSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], (ulong)Features);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], CompatFeatures);
        BinaryPrimitives.WriteUInt64LittleEndian(b[32..], AutoclearFeatures);
        BinaryPrimitives.WriteUInt64LittleEndian(b[40..], L1TableOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[48..], ImageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[56..], BackingFilenameOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[60..], BackingFilenameSize);
    }

    public static bool IsClusterSizeValid(ulong clusterSize) =>
        clusterSize is >= MinClusterSize and <= MaxClusterSize && BitOperations.IsPow2(clusterSize);

    public static bool IsTableSizeValid(ulong tableSize) =>
        tableSize is >= MinTableSize and <= MaxTableSize && BitOperations.IsPow2(tableSize);

    /// <summary>
    /// The largest image the two-level tables can map: (entries per table)² × cluster size, saturated
    /// at <see cref="long.MaxValue"/>. QEMU computes this in 64 bits and lets it wrap, so some legal
    /// geometries (64 MiB clusters, table_size 4) only admit size 0 there; see <see cref="QemuMaxImageSize"/>.
    /// </summary>
    public static ulong MaxImageSize(uint clusterSize, uint tableSize)
    {
        var entries = (UInt128)tableSize * clusterSize / 8;
        var max = entries * entries * clusterSize;
        return max > long.MaxValue ? long.MaxValue : (ulong)max;
    }

    /// <summary>QEMU's qed_max_image_size, wrapping included: images larger than this do not open in QEMU.</summary>
    public static ulong QemuMaxImageSize(uint clusterSize, uint tableSize)
    {
        ulong entries = (ulong)tableSize * clusterSize / 8;
        return unchecked(entries * entries * clusterSize);
    }

    public static bool IsImageSizeValid(ulong imageSize, uint clusterSize, uint tableSize) =>
        imageSize % 512 == 0 && imageSize <= MaxImageSize(clusterSize, tableSize);

    /// <summary>
    /// Validates the fields in the order QEMU's bdrv_qed_do_open does (magic, features, cluster size,
    /// table size, image size, L1 offset, header size, backing name), then a few checks QEMU omits.
    /// Each failure is one <see cref="ImageFormatException"/> with QEMU's wording where QEMU has one.
    /// </summary>
    /// <param name="fileLength">Length of the image file in bytes.</param>
    public readonly void Validate(long fileLength)
    {
        if (MagicValue != Magic)
            throw new ImageFormatException("Image not in QED format");
        var unknown = (ulong)(Features & ~QedFeatures.Known);
        if (unknown != 0)
            throw new ImageFormatException($"Unsupported QED features: {unknown:x}");
        if (!IsClusterSizeValid(ClusterSize))
            throw new ImageFormatException("QED cluster size is invalid");
        ulong fileSize = (ulong)fileLength & ~((ulong)ClusterSize - 1);
        if (!IsTableSizeValid(TableSize))
            throw new ImageFormatException("QED table size is invalid");
        if (!IsImageSizeValid(ImageSize, ClusterSize, TableSize))
            throw new ImageFormatException("QED image size is invalid");
        if (!QedGeometry.IsTableOffsetValid(L1TableOffset, ClusterSize, TableSize, HeaderSize, fileSize))
            throw new ImageFormatException("QED table offset is invalid");
        if (HeaderSize > uint.MaxValue / ClusterSize)
            throw new ImageFormatException("QED header size is too large");
        // QEMU accepts 0, which lets tables and data overlap the header itself.
        if (HeaderSize == 0)
            throw new ImageFormatException("QED header size is invalid");
        if (HasBackingFile)
        {
            if ((ulong)BackingFilenameOffset + BackingFilenameSize > HeaderAreaBytes || BackingFilenameOffset < Size)
                throw new ImageFormatException("QED backing filename offset is invalid");
            if (BackingFilenameSize == 0)
                throw new ImageFormatException("QED backing filename is empty");
            if (BackingFilenameSize > MaxBackingNameLength)
                throw new ImageFormatException("QED backing filename is too long");
        }
    }
}
