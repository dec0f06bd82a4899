using System.Buffers.Binary;

namespace Machine.Tests.Support;

/// <summary>Builds a minimal bzImage with a setup header laid out as Documentation/x86/boot.rst describes.</summary>
public static class SyntheticKernel
{
    public const int SetupSectors = 4;

    public static byte[] Build(ushort version = 0x020F, byte loadFlags = 0x01, int kernelBytes = 64 * 1024,
        uint initSize = 0x40_0000, uint cmdlineSize = 2047, uint initrdMax = 0x7FFF_FFFF, bool relocatable = true)
    {
        var f = new byte[(SetupSectors + 1) * 512 + kernelBytes];
        f[0x1F1] = SetupSectors;
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(0x1FE), 0xAA55);
        f[0x200] = 0xEB;                                  // jmp short
        f[0x201] = 0x6A;                                  // header ends at 0x202 + 0x6A = 0x26C
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x202), 0x53726448);   // "HdrS"
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(0x206), version);
        f[0x211] = loadFlags;
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x214), 0x100000);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x22C), initrdMax);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x230), 0x200000);
        f[0x234] = relocatable ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x238), cmdlineSize);
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(0x258), 0x1000000);
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(0x260), initSize);
        for (int i = (SetupSectors + 1) * 512; i < f.Length; i++) f[i] = (byte)(i * 7 + 3);
        return f;
    }

    public static string WriteTemp(byte[] image)
    {
        string path = Path.Combine(Path.GetTempPath(), $"emu-kernel-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, image);
        return path;
    }
}
