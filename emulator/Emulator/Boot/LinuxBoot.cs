using System.Buffers.Binary;
using System.Text;
using Emulator.Bus;
using Emulator.Cpu;

namespace Emulator.Boot;

/// <summary>Where the loader put things (for tests and diagnostics).</summary>
public sealed record LinuxBootLayout(uint ZeroPage, uint CommandLine, uint Gdt, uint KernelAddress, uint KernelEnd,
    uint InitrdAddress, uint InitrdSize, uint EntryPoint);

/// <summary>
/// Direct Linux boot as QEMU's -kernel/-initrd/-append does it, through the 32-bit boot protocol
/// (boot.rst, "32-bit Boot Protocol"): a zeroed zero page with the kernel's setup header copied in and the
/// loader fields filled (type_of_loader, cmd_line_ptr, ramdisk, heap), the e820 map at 0x2D0, the
/// protected-mode kernel at 1 MiB, the initrd as high as allowed, a GDT with flat __BOOT_CS (0x10) and
/// __BOOT_DS (0x18), and the CPU in 32-bit protected mode without paging, interrupts off, ESI pointing to
/// the zero page, EBP/EDI/EBX zero.
/// </summary>
public static class LinuxBoot
{
    public const uint ZeroPageAddress = 0x10000;
    public const uint CommandLineAddress = 0x20000;
    public const uint GdtAddress = 0x1000;
    public const uint KernelAddress = 0x100000;
    /// <summary>QEMU's type_of_loader for itself.</summary>
    public const byte LoaderType = 0xB0;

    public static LinuxBootLayout Load(MemoryBus memory, ICpu cpu, LinuxKernelImage kernel, byte[]? initrd,
        string commandLine, E820Map e820)
    {
        uint ram = memory.RamSize;
        byte[] cmdline = Encoding.UTF8.GetBytes(commandLine);
        if (cmdline.Length > kernel.CommandLineSize)
            throw new BootException($"kernel command line is {cmdline.Length} bytes; {kernel.Name} accepts at most {kernel.CommandLineSize}");

        // The kernel occupies 1 MiB up, and during decompression init_size bytes from its run address.
        ulong kernelEnd = Math.Max(KernelAddress + (ulong)kernel.KernelLength,
            (kernel.Relocatable ? KernelAddress : Math.Max(KernelAddress, kernel.PreferredAddress)) + kernel.InitSize);
        if (kernelEnd > ram)
            throw new BootException($"{kernel.Name} needs at least {(kernelEnd + 0xFFFFF) >> 20} MiB of RAM; -m gives {ram >> 20} MiB");

        uint initrdAddress = 0, initrdSize = 0;
        if (initrd != null)
        {
            initrdSize = (uint)initrd.Length;
            ulong top = Math.Min(ram, (ulong)kernel.InitrdAddressMax + 1);
            if ((ulong)initrd.Length > top || ((top - (ulong)initrd.Length) & ~0xFFFUL) < kernelEnd)
                throw new BootException($"initrd of {initrd.Length >> 10} KiB does not fit in RAM above the kernel; give more memory with -m");
            initrdAddress = (uint)((top - (ulong)initrd.Length) & ~0xFFFUL);
        }

        // Zero page: all zeros, then the setup header from the image, then the loader's fields.
        var zero = new byte[4096];
        kernel.File.AsSpan(LinuxKernelImage.HeaderOffset, kernel.HeaderEnd - LinuxKernelImage.HeaderOffset)
            .CopyTo(zero.AsSpan(LinuxKernelImage.HeaderOffset));
        zero[0x210] = LoaderType;
        zero[0x211] |= (byte)LinuxKernelImage.CanUseHeap;
        BinaryPrimitives.WriteUInt16LittleEndian(zero.AsSpan(0x224), 0xFE00);            // heap_end_ptr
        BinaryPrimitives.WriteUInt16LittleEndian(zero.AsSpan(0x1FA), 0xFFFF);            // vid_mode: normal
        BinaryPrimitives.WriteUInt32LittleEndian(zero.AsSpan(0x228), CommandLineAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(zero.AsSpan(0x218), initrdAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(zero.AsSpan(0x21C), initrdSize);
        uint extKb = ram > 0x100000 ? (ram - 0x100000) >> 10 : 0;
        BinaryPrimitives.WriteUInt16LittleEndian(zero.AsSpan(0x002), (ushort)Math.Min(extKb, 0xFFFF)); // ext_mem_k
        BinaryPrimitives.WriteUInt32LittleEndian(zero.AsSpan(0x1E0), extKb);                        // alt_mem_k
        if (e820.Entries.Count > 128) throw new BootException("too many e820 entries");
        zero[0x1E8] = (byte)e820.Entries.Count;
        e820.WriteTo(zero.AsSpan(0x2D0));

        memory.Load(ZeroPageAddress, zero);
        var cmd = new byte[cmdline.Length + 1];
        cmdline.CopyTo(cmd, 0);
        memory.Load(CommandLineAddress, cmd);
        memory.Load(KernelAddress, kernel.File.AsSpan(kernel.KernelOffset));
        if (initrd != null) memory.Load(initrdAddress, initrd);

        // GDT: null, unused, __BOOT_CS = flat 4 GiB code (0x9B), __BOOT_DS = flat 4 GiB data (0x93).
        var gdt = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(gdt.AsSpan(16), 0x00CF_9B00_0000_FFFFUL);
        BinaryPrimitives.WriteUInt64LittleEndian(gdt.AsSpan(24), 0x00CF_9300_0000_FFFFUL);
        memory.Load(GdtAddress, gdt);

        uint entry = kernel.Code32Start != 0 ? kernel.Code32Start : KernelAddress;
        cpu.SetGdtr(GdtAddress, (ushort)(gdt.Length - 1));
        cpu.SetIdtr(0, 0);
        cpu.Cr0 = 0x11;                                             // PE, ET; paging off
        const ushort code = 0xC09B, data = 0xC093;                  // G, D/B, present, DPL 0
        cpu.SetSegment(SegmentRegister.CS, 0x10, 0, 0xFFFF_FFFF, code);
        foreach (var s in new[] { SegmentRegister.DS, SegmentRegister.ES, SegmentRegister.SS, SegmentRegister.FS, SegmentRegister.GS })
            cpu.SetSegment(s, 0x18, 0, 0xFFFF_FFFF, data);
        cpu.Eflags = 0x2;                                           // IF clear
        cpu.SetRegister(Register32.Esi, ZeroPageAddress);
        cpu.SetRegister(Register32.Ebp, 0);
        cpu.SetRegister(Register32.Edi, 0);
        cpu.SetRegister(Register32.Ebx, 0);
        cpu.SetRegister(Register32.Esp, ZeroPageAddress - 0x10);
        cpu.Eip = entry;

        return new LinuxBootLayout(ZeroPageAddress, CommandLineAddress, GdtAddress, KernelAddress, (uint)kernelEnd,
            initrdAddress, initrdSize, entry);
    }
}
