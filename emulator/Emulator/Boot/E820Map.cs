using System.Buffers.Binary;

namespace Emulator.Boot;

public enum E820Type : uint { Ram = 1, Reserved = 2, Acpi = 3, Nvs = 4, Unusable = 5 }

public readonly record struct E820Entry(ulong Address, ulong Length, E820Type Type);

/// <summary>The BIOS memory map (INT 15h AX=E820h; in the zero page at 0x2D0 for a direct kernel boot).</summary>
public sealed class E820Map
{
    private readonly List<E820Entry> entries = new();

    public IReadOnlyList<E820Entry> Entries => entries;

    public void Add(ulong address, ulong length, E820Type type)
    {
        if (length > 0) entries.Add(new E820Entry(address, length, type));
    }

    /// <summary>The PC map: conventional memory up to the EBDA, the BIOS area, RAM above 1 MiB, and the
    /// firmware ROM below 4 GiB.</summary>
    public static E820Map ForPc(uint ramSize, uint firmwareSize)
    {
        var map = new E820Map();
        map.Add(0, 0x9FC00, E820Type.Ram);
        map.Add(0x9FC00, 0x400, E820Type.Reserved);            // extended BIOS data area
        map.Add(0xF0000, 0x10000, E820Type.Reserved);          // system BIOS
        if (ramSize > 0x100000) map.Add(0x100000, ramSize - 0x100000u, E820Type.Ram);
        if (firmwareSize > 0) map.Add((1UL << 32) - firmwareSize, firmwareSize, E820Type.Reserved);
        return map;
    }

    /// <summary>struct boot_e820_entry: u64 addr, u64 size, u32 type (20 bytes, packed).</summary>
    public void WriteTo(Span<byte> table)
    {
        for (int i = 0; i < entries.Count; i++)
        {
            var s = table.Slice(i * 20, 20);
            BinaryPrimitives.WriteUInt64LittleEndian(s, entries[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(s[8..], entries[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(s[16..], (uint)entries[i].Type);
        }
    }
}
