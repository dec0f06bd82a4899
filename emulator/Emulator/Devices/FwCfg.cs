using System.Buffers.Binary;
using System.Text;
using Emulator.Bus;

namespace Emulator.Devices;

/// <summary>
/// QEMU's firmware configuration device (docs/specs/fw_cfg.txt), I/O interface only: a 16-bit selector at
/// port 0x510 and a data byte at 0x511 that streams the selected item. Items carry what SeaBIOS asks the board
/// for (signature, RAM size, CPU count) and named files in a directory (item 0x19), such as "etc/e820". There
/// is no DMA interface (the ID item says so), so firmware reads byte by byte.
/// </summary>
public sealed class FwCfg : IPortDevice
{
    public const ushort Signature = 0x0000, Id = 0x0001, RamSize = 0x0003, NbCpus = 0x0005, MaxCpus = 0x000F,
        FileDir = 0x0019, FirstFile = 0x0020;
    public const ushort SelectorPort = 0x510, DataPort = 0x511;

    private readonly Dictionary<ushort, byte[]> items = new();
    private readonly List<(string Name, ushort Key)> files = new();
    private ushort selector;
    private int offset;

    public FwCfg()
    {
        items[Signature] = "QEMU"u8.ToArray();
        items[Id] = new byte[] { 1, 0, 0, 0 };       // bit 0: traditional interface; bit 1 (DMA) clear
        RebuildDirectory();
    }

    public void Register(IoPortBus io) => io.Register(SelectorPort, 2, this);

    /// <summary>Sets a numbered item (little-endian values, as QEMU's fw_cfg_add_i16/i32/i64).</summary>
    public void SetItem(ushort key, byte[] data) => items[key] = data;

    public void SetUInt16(ushort key, ushort value)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        items[key] = b;
    }

    public void SetUInt64(ushort key, ulong value)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        items[key] = b;
    }

    /// <summary>Adds or replaces a named file; names are at most 55 bytes.</summary>
    public void AddFile(string name, byte[] data)
    {
        if (Encoding.ASCII.GetByteCount(name) > 55) throw new ArgumentException($"fw_cfg file name '{name}' is too long");
        int i = files.FindIndex(f => f.Name == name);
        ushort key = i >= 0 ? files[i].Key : (ushort)(FirstFile + files.Count);
        if (i < 0) files.Add((name, key));
        items[key] = data;
        RebuildDirectory();
    }

    public byte[]? GetItem(ushort key) => items.TryGetValue(key, out var d) ? d : null;

    /// <summary>struct FWCfgFiles: a big-endian count, then per file big-endian size, select, reserved and a
    /// NUL-padded 56-byte name, sorted by name as QEMU keeps them.</summary>
    private void RebuildDirectory()
    {
        var sorted = files.OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        var dir = new byte[4 + 64 * sorted.Count];
        BinaryPrimitives.WriteUInt32BigEndian(dir, (uint)sorted.Count);
        for (int i = 0; i < sorted.Count; i++)
        {
            var e = dir.AsSpan(4 + 64 * i, 64);
            BinaryPrimitives.WriteUInt32BigEndian(e, (uint)items[sorted[i].Key].Length);
            BinaryPrimitives.WriteUInt16BigEndian(e[4..], sorted[i].Key);
            Encoding.ASCII.GetBytes(sorted[i].Name, e[8..]);
        }
        items[FileDir] = dir;
    }

    public uint In(ushort port, int size)
    {
        if (port != DataPort) return size == 1 ? 0xFFu : 0xFFFFu;
        uint v = 0;
        for (int i = 0; i < size; i++) v |= (uint)NextByte() << (8 * i);
        return v;
    }

    private byte NextByte()
    {
        if (!items.TryGetValue(selector, out var data) || offset >= data.Length) return 0;
        return data[offset++];
    }

    public void Out(ushort port, int size, uint value)
    {
        if (port != SelectorPort) return;           // data writes are ignored (fw_cfg.txt: read-only since QEMU 2.4)
        selector = (ushort)value;
        offset = 0;
    }

    public void Reset()
    {
        selector = 0;
        offset = 0;
    }
}
