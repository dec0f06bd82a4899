using System.Buffers.Binary;

namespace Cpu.Tests.UserMode;

/// <summary>A statically linked i386 ELF executable (System V ABI, i386 supplement): the loadable segments
/// and what the process start-up needs (entry point, program headers).</summary>
internal sealed class ElfImage
{
    public sealed record Segment(uint VirtualAddress, uint MemorySize, uint FileOffset, uint FileSize, bool Writable);

    public byte[] File { get; }
    public uint Entry { get; }
    public uint ProgramHeaderOffset { get; }
    public int ProgramHeaderCount { get; }
    public List<Segment> Segments { get; } = new();

    public ElfImage(byte[] file)
    {
        File = file;
        var f = file.AsSpan();
        if (f.Length < 52 || f[0] != 0x7F || f[1] != 'E' || f[2] != 'L' || f[3] != 'F')
            throw new InvalidDataException("not an ELF file");
        if (f[4] != 1 || f[5] != 1) throw new InvalidDataException("not a 32-bit little-endian ELF file");
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(f[16..]);
        ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(f[18..]);
        if (type != 2 || machine != 3) throw new InvalidDataException("not a static i386 executable (ET_EXEC, EM_386)");
        Entry = BinaryPrimitives.ReadUInt32LittleEndian(f[24..]);
        ProgramHeaderOffset = BinaryPrimitives.ReadUInt32LittleEndian(f[28..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(f[42..]);
        ProgramHeaderCount = BinaryPrimitives.ReadUInt16LittleEndian(f[44..]);
        for (int k = 0; k < ProgramHeaderCount; k++)
        {
            var ph = f[(int)(ProgramHeaderOffset + k * phentsize)..];
            uint pType = BinaryPrimitives.ReadUInt32LittleEndian(ph);
            if (pType == 3) throw new InvalidDataException("dynamically linked executables (PT_INTERP) are not supported");
            if (pType != 1) continue;   // PT_LOAD
            Segments.Add(new Segment(
                BinaryPrimitives.ReadUInt32LittleEndian(ph[8..]),
                BinaryPrimitives.ReadUInt32LittleEndian(ph[20..]),
                BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]),
                BinaryPrimitives.ReadUInt32LittleEndian(ph[16..]),
                (BinaryPrimitives.ReadUInt32LittleEndian(ph[24..]) & 2) != 0));
        }
    }

    /// <summary>Where the program headers are in the process image (AT_PHDR).</summary>
    public uint ProgramHeaderAddress =>
        Segments.First(s => s.FileOffset <= ProgramHeaderOffset && ProgramHeaderOffset < s.FileOffset + s.FileSize) is { } s
            ? s.VirtualAddress + (ProgramHeaderOffset - s.FileOffset)
            : throw new InvalidDataException("program headers are not in a loadable segment");
}
