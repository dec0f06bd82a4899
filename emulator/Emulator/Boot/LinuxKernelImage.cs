using System.Buffers.Binary;

namespace Emulator.Boot;

/// <summary>
/// A bzImage as the Linux x86 boot protocol describes it (Documentation/x86/boot.rst): the real-mode setup
/// (setup_sects+1 sectors, holding the setup header at 0x1F1) followed by the protected-mode kernel.
/// </summary>
public sealed class LinuxKernelImage
{
    public const int HeaderOffset = 0x1F1;
    public const uint LoadedHigh = 0x01, CanUseHeap = 0x80;

    public byte[] File { get; }
    public string Name { get; }
    public int SetupSectors { get; }
    public ushort ProtocolVersion { get; }
    public byte LoadFlags { get; }
    public uint Code32Start { get; }
    public uint InitrdAddressMax { get; }
    public uint CommandLineSize { get; }
    public ulong PreferredAddress { get; }
    public uint InitSize { get; }
    public bool Relocatable { get; }

    /// <summary>Offset of the protected-mode kernel in the file.</summary>
    public int KernelOffset => (SetupSectors + 1) * 512;
    public int KernelLength => File.Length - KernelOffset;

    /// <summary>End of the setup header: 0x202 + the byte at 0x201 (the jump's displacement).</summary>
    public int HeaderEnd => 0x202 + File[0x201];

    private LinuxKernelImage(byte[] file, string name)
    {
        File = file;
        Name = name;
        SetupSectors = file[0x1F1] == 0 ? 4 : file[0x1F1];
        ProtocolVersion = U16(0x206);
        LoadFlags = file[0x211];
        Code32Start = U32(0x214);
        InitrdAddressMax = ProtocolVersion >= 0x203 ? U32(0x22C) : 0x37FF_FFFF;
        CommandLineSize = ProtocolVersion >= 0x206 ? U32(0x238) : 255;
        Relocatable = ProtocolVersion >= 0x205 && file[0x234] != 0;
        PreferredAddress = ProtocolVersion >= 0x20A ? BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(0x258)) : 0x100000;
        InitSize = ProtocolVersion >= 0x20A ? U32(0x260) : 0;
    }

    private ushort U16(int at) => BinaryPrimitives.ReadUInt16LittleEndian(File.AsSpan(at));
    private uint U32(int at) => BinaryPrimitives.ReadUInt32LittleEndian(File.AsSpan(at));

    /// <summary>Checks that <paramref name="file"/> is a bzImage this loader can start (protocol 2.02 or later,
    /// loaded high) and reads its header.</summary>
    public static LinuxKernelImage Parse(byte[] file, string name)
    {
        if (file.Length < 0x1000)
            throw new BootException($"{name}: too small to be a Linux kernel ({file.Length} bytes)");
        if (BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(0x202)) != 0x53726448)   // "HdrS"
            throw new BootException($"{name}: not a Linux bzImage (no \"HdrS\" setup header at 0x202)");
        var image = new LinuxKernelImage(file, name);
        if (image.ProtocolVersion < 0x202)
            throw new BootException($"{name}: boot protocol {image.ProtocolVersion >> 8}.{image.ProtocolVersion & 0xFF:x2} is too old (2.02 or later is needed)");
        if ((image.LoadFlags & LoadedHigh) == 0)
            throw new BootException($"{name}: a zImage (loaded low) is not supported; use a bzImage");
        if (image.KernelOffset >= file.Length)
            throw new BootException($"{name}: truncated: the setup code claims {image.SetupSectors} sectors");
        return image;
    }

    public static LinuxKernelImage Load(string path)
    {
        byte[] data;
        try { data = System.IO.File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BootException($"could not read kernel '{path}': {e.Message}");
        }
        return Parse(data, path);
    }
}
