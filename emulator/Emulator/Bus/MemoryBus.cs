using System.Runtime.CompilerServices;

namespace Emulator.Bus;

/// <summary>
/// The 32-bit physical address space: guest RAM, ROMs, MMIO regions and holes, routed per 4 KiB page.
/// </summary>
/// <remarks>
/// Reads and writes are routed separately per page so that the i440FX PAM registers (shadow RAM in
/// 0xC0000..0xFFFFF: read ROM / write RAM and the other combinations) are a change of routing, not a copy.
/// Route 0 is RAM (the fast path), route 1 is unassigned (reads all ones, writes dropped), route n &gt;= 2 is
/// region n-2. RAM is one pinned array indexed by physical address, so the CPU's TLB can hold direct offsets.
/// </remarks>
public sealed class MemoryBus
{
    public const int PageShift = 12;
    public const uint PageSize = 1u << PageShift;
    public const uint PageMask = PageSize - 1;
    public const int PageCount = 1 << (32 - PageShift);

    internal const ushort RouteRam = 0;
    internal const ushort RouteUnassigned = 1;

    /// <summary>Largest RAM a single managed array can hold, rounded down to a MiB.</summary>
    public const uint MaxRamSize = 2047u << 20;

    private sealed record Region(uint Base, uint Length, IMmioDevice? Device, byte[]? Rom, int RomOffset, string Name);

    private readonly List<Region?> regions = new();

    // Per page: what sits there when shadowing does not redirect to RAM, and the shadow flags.
    private readonly ushort[] deviceRoute = new ushort[PageCount];
    private readonly byte[] shadow = new byte[PageCount];
    private const byte ShadowRead = 1, ShadowWrite = 2;

    /// <summary>Effective routes; internal so the CPU's TLB fill can test them directly.</summary>
    internal readonly ushort[] ReadRoute = new ushort[PageCount];
    internal readonly ushort[] WriteRoute = new ushort[PageCount];

    /// <summary>Guest RAM, pinned, indexed by physical address.</summary>
    public byte[] Ram { get; }
    public uint RamSize { get; }
    private readonly uint ramPages;

    /// <summary>Nonzero where the CPU holds decoded code for the page. The CPU sets it; a write to a
    /// marked page through the bus or by DMA calls <see cref="CodePageWritten"/> first.</summary>
    public readonly byte[] CodePages = new byte[PageCount];

    /// <summary>The CPU's hook: drop decoded code of this page (and clear its <see cref="CodePages"/> mark).</summary>
    public Action<uint>? CodePageWritten;

    /// <summary>Raised when the routing of pages changes (mapping, shadowing, A20): first page, page count.
    /// The CPU drops TLB entries and decoded code for them.</summary>
    public event Action<uint, uint>? MappingChanged;

    /// <summary>Address mask applied by the CPU to every physical address: bit 20 cleared while the A20 gate
    /// is closed (8042 output port bit 1, port 0x92 bit 1).</summary>
    public uint A20Mask { get; private set; } = 0xFFFF_FFFF;

    public MemoryBus(uint ramSize)
    {
        if (ramSize == 0 || ramSize > MaxRamSize || (ramSize & PageMask) != 0)
            throw new ArgumentOutOfRangeException(nameof(ramSize), $"RAM size must be a multiple of 4 KiB between 4 KiB and {MaxRamSize >> 20} MiB");
        RamSize = ramSize;
        ramPages = ramSize >> PageShift;
        Ram = GC.AllocateArray<byte>((int)ramSize, pinned: true);
        for (uint p = 0; p < PageCount; p++)
            deviceRoute[p] = p < ramPages ? RouteRam : RouteUnassigned;
        Recompute(0, PageCount);
    }

    public bool A20Enabled
    {
        get => A20Mask == 0xFFFF_FFFF;
        set
        {
            uint mask = value ? 0xFFFF_FFFFu : ~(1u << 20);
            if (mask == A20Mask) return;
            A20Mask = mask;
            MappingChanged?.Invoke(0, PageCount);
        }
    }

    // ---- mapping -------------------------------------------------------------------------------------

    /// <summary>Maps a device's registers; base and length must be page-aligned.</summary>
    public void MapMmio(uint baseAddress, uint length, IMmioDevice device, string name)
        => Map(new Region(baseAddress, length, device, null, 0, name));

    /// <summary>Maps a read-only image (writes are dropped); base and length must be page-aligned.</summary>
    public void MapRom(uint baseAddress, byte[] image, int imageOffset, uint length, string name)
    {
        if (imageOffset < 0 || imageOffset + (long)length > image.Length)
            throw new ArgumentOutOfRangeException(nameof(length), $"{name}: ROM window is outside its image");
        Map(new Region(baseAddress, length, null, image, imageOffset, name));
    }

    /// <summary>Makes a range unassigned (a hole: reads all ones, writes dropped), e.g. the VGA window.</summary>
    public void MapHole(uint baseAddress, uint length)
    {
        CheckAligned(baseAddress, length, "hole");
        Unmap(baseAddress, length);
        uint first = baseAddress >> PageShift, count = length >> PageShift;
        for (uint p = first; p < first + count; p++) deviceRoute[p] = RouteUnassigned;
        Recompute(first, count);
    }

    /// <summary>Removes whatever region is mapped over the range; RAM shows through where there is RAM.</summary>
    public void Unmap(uint baseAddress, uint length)
    {
        CheckAligned(baseAddress, length, "unmap");
        uint first = baseAddress >> PageShift, count = length >> PageShift;
        for (uint p = first; p < first + count; p++)
        {
            ushort r = deviceRoute[p];
            if (r >= 2) regions[r - 2] = null;
            deviceRoute[p] = p < ramPages ? RouteRam : RouteUnassigned;
        }
        Recompute(first, count);
    }

    /// <summary>Shadow-RAM control (i440FX PAM): reads and/or writes of the range go to RAM instead of the
    /// region mapped there.</summary>
    public void SetShadow(uint baseAddress, uint length, bool readRam, bool writeRam)
    {
        CheckAligned(baseAddress, length, "shadow");
        uint first = baseAddress >> PageShift, count = length >> PageShift;
        byte flags = (byte)((readRam ? ShadowRead : 0) | (writeRam ? ShadowWrite : 0));
        for (uint p = first; p < first + count; p++) shadow[p] = flags;
        Recompute(first, count);
    }

    private void Map(Region region)
    {
        CheckAligned(region.Base, region.Length, region.Name);
        uint first = region.Base >> PageShift, count = region.Length >> PageShift;
        for (uint p = first; p < first + count; p++)
            if (deviceRoute[p] >= 2)
                throw new InvalidOperationException($"{region.Name}: 0x{p << PageShift:x8} is already mapped to {regions[deviceRoute[p] - 2]?.Name}");
        int index = regions.IndexOf(null);
        if (index < 0) { index = regions.Count; regions.Add(region); } else regions[index] = region;
        if (index + 2 > ushort.MaxValue) throw new InvalidOperationException("too many memory regions");
        for (uint p = first; p < first + count; p++) deviceRoute[p] = (ushort)(index + 2);
        Recompute(first, count);
    }

    private static void CheckAligned(uint baseAddress, uint length, string name)
    {
        if ((baseAddress & PageMask) != 0 || (length & PageMask) != 0 || length == 0 || (ulong)baseAddress + length > 1UL << 32)
            throw new ArgumentException($"{name}: 0x{baseAddress:x8}+0x{length:x} is not a page-aligned range of the 4 GiB space");
    }

    private void Recompute(uint first, uint count)
    {
        for (uint p = first; p < first + count; p++)
        {
            bool ram = p < ramPages;
            ReadRoute[p] = ram && (shadow[p] & ShadowRead) != 0 ? RouteRam : deviceRoute[p];
            WriteRoute[p] = ram && (shadow[p] & ShadowWrite) != 0 ? RouteRam : deviceRoute[p];
        }
        MappingChanged?.Invoke(first, count);
    }

    /// <summary>True when reads of the page come from a ROM image: code decoded from it stays valid until the
    /// mapping changes (the CPU caches it).</summary>
    internal bool IsRomPage(uint page)
    {
        ushort r = ReadRoute[page];
        return r >= 2 && regions[r - 2]?.Rom != null;
    }

    /// <summary>True when both reads and writes of the page go straight to RAM.</summary>
    public bool IsRamPage(uint page) => ReadRoute[page] == RouteRam && WriteRoute[page] == RouteRam;

    /// <summary>Name of what is mapped at an address, for diagnostics.</summary>
    public string Describe(uint address)
    {
        ushort r = ReadRoute[address >> PageShift];
        return r switch { RouteRam => "RAM", RouteUnassigned => "unassigned", _ => regions[r - 2]?.Name ?? "?" };
    }

    // ---- CPU-side accesses (physical addresses, A20 already applied) -----------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte Read8(uint address)
    {
        ushort r = ReadRoute[address >> PageShift];
        return r == RouteRam ? Ram[address] : (byte)ReadRegion(r, address, 1);
    }

    public ushort Read16(uint address)
    {
        if ((address & PageMask) > PageSize - 2)
            return (ushort)(Read8(address) | Read8(address + 1) << 8);
        ushort r = ReadRoute[address >> PageShift];
        return r == RouteRam
            ? Unsafe.ReadUnaligned<ushort>(ref Ram[address])
            : (ushort)ReadRegion(r, address, 2);
    }

    public uint Read32(uint address)
    {
        if ((address & PageMask) > PageSize - 4)
            return Read16(address) | (uint)Read16(address + 2) << 16;
        ushort r = ReadRoute[address >> PageShift];
        return r == RouteRam
            ? Unsafe.ReadUnaligned<uint>(ref Ram[address])
            : ReadRegion(r, address, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write8(uint address, byte value)
    {
        uint page = address >> PageShift;
        ushort r = WriteRoute[page];
        if (r == RouteRam)
        {
            if (CodePages[page] != 0) CodePageWritten?.Invoke(page);
            Ram[address] = value;
        }
        else WriteRegion(r, address, 1, value);
    }

    public void Write16(uint address, ushort value)
    {
        if ((address & PageMask) > PageSize - 2)
        {
            Write8(address, (byte)value);
            Write8(address + 1, (byte)(value >> 8));
            return;
        }
        uint page = address >> PageShift;
        ushort r = WriteRoute[page];
        if (r == RouteRam)
        {
            if (CodePages[page] != 0) CodePageWritten?.Invoke(page);
            Unsafe.WriteUnaligned(ref Ram[address], value);
        }
        else WriteRegion(r, address, 2, value);
    }

    public void Write32(uint address, uint value)
    {
        if ((address & PageMask) > PageSize - 4)
        {
            Write16(address, (ushort)value);
            Write16(address + 2, (ushort)(value >> 16));
            return;
        }
        uint page = address >> PageShift;
        ushort r = WriteRoute[page];
        if (r == RouteRam)
        {
            if (CodePages[page] != 0) CodePageWritten?.Invoke(page);
            Unsafe.WriteUnaligned(ref Ram[address], value);
        }
        else WriteRegion(r, address, 4, value);
    }

    private uint ReadRegion(ushort route, uint address, int size)
    {
        if (route == RouteUnassigned)
            return size switch { 1 => 0xFFu, 2 => 0xFFFFu, _ => 0xFFFF_FFFFu };
        var region = regions[route - 2]!;
        uint offset = address - region.Base;
        if (region.Rom is { } rom)
        {
            int i = region.RomOffset + (int)offset;
            return size switch
            {
                1 => rom[i],
                2 => (uint)(rom[i] | rom[i + 1] << 8),
                _ => (uint)(rom[i] | rom[i + 1] << 8 | rom[i + 2] << 16 | rom[i + 3] << 24),
            };
        }
        return region.Device!.Read(offset, size);
    }

    private void WriteRegion(ushort route, uint address, int size, uint value)
    {
        if (route == RouteUnassigned) return;
        var region = regions[route - 2]!;
        if (region.Device is { } dev)
            dev.Write(address - region.Base, size, value);
        // Writes to ROM are dropped, as on a real board with the PAM set to read-only.
    }

    // ---- device DMA (bus-master accesses to RAM only) ---------------------------------------------------

    /// <summary>True when [address, address+length) is RAM for both reads and writes.</summary>
    public bool IsRam(ulong address, ulong length)
    {
        if (length == 0) return address <= RamSize;
        if (address >= RamSize || length > RamSize - address) return false;
        uint first = (uint)(address >> PageShift), last = (uint)((address + length - 1) >> PageShift);
        for (uint p = first; p <= last; p++)
            if (ReadRoute[p] != RouteRam || WriteRoute[p] != RouteRam) return false;
        return true;
    }

    /// <summary>Bounds-checked view of guest RAM for a device. For writes through the span, call
    /// <see cref="NotifyDmaWrite"/> (or use <see cref="DmaWrite"/>) so cached code is dropped.</summary>
    public bool TryGetRamSpan(ulong address, int length, out Span<byte> span)
    {
        if (length < 0 || !IsRam(address, (ulong)length)) { span = default; return false; }
        span = Ram.AsSpan((int)address, length);
        return true;
    }

    public bool DmaRead(ulong address, Span<byte> destination)
    {
        if (!IsRam(address, (ulong)destination.Length)) return false;
        Ram.AsSpan((int)address, destination.Length).CopyTo(destination);
        return true;
    }

    public bool DmaWrite(ulong address, ReadOnlySpan<byte> source)
    {
        if (!IsRam(address, (ulong)source.Length)) return false;
        NotifyDmaWrite(address, source.Length);
        source.CopyTo(Ram.AsSpan((int)address, source.Length));
        return true;
    }

    /// <summary>Drops decoded code in pages a device wrote (disk DMA into code pages).</summary>
    public void NotifyDmaWrite(ulong address, int length)
    {
        if (length <= 0) return;
        uint first = (uint)(address >> PageShift), last = (uint)((address + (ulong)length - 1) >> PageShift);
        for (uint p = first; p <= last; p++)
            if (CodePages[p] != 0) CodePageWritten?.Invoke(p);
    }

    /// <summary>Copies bytes into guest memory through the normal routes (boot loaders, firmware loading).</summary>
    public void Load(uint address, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i++) Write8(address + (uint)i, data[i]);
    }
}
