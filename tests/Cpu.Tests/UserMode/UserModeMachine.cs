using System.Buffers.Binary;
using Emulator.Bus;
using Emulator.Cpu;

namespace Cpu.Tests.UserMode;

/// <summary>
/// The ring-0 side of a single-process Linux i386 system, built in guest memory by the test: a GDT (kernel and
/// user flat segments, a TSS, Linux's three TLS entries 6-8), an IDT whose vector 0x80 is a DPL-3 interrupt
/// gate to a two-instruction ring-0 stub (OUT 0xE0, AL; IRETD) and whose exception vectors lead to a stub that
/// reports the fault on port 0xE1, and two-level page tables: the first 4 MiB mapped for the supervisor only,
/// user pages allocated on demand by the loader, brk and mmap. The CPU runs the process at CPL 3 with paging on.
/// </summary>
internal sealed class UserModeMachine
{
    public const uint RamSize = 256u << 20;
    public const ushort KernelCode = 0x08, KernelData = 0x10, UserCode = 0x1B, UserData = 0x23, TssSel = 0x28;
    public const int TlsFirstEntry = 6;
    private const uint Gdt = 0x1000, Idt = 0x2000, Tss = 0x3000, Stubs = 0x4000, KernelStack = 0x9F000;
    private const uint PageDirectory = 0x10000, KernelPageTable = 0x11000;
    public const ushort SyscallPort = 0xE0, FaultPort = 0xE1;

    public readonly MemoryBus Bus = new(RamSize);
    public readonly IoPortBus Io = new();
    public readonly X86Cpu Cpu;
    private uint nextFrame = 0x20_0000;
    private readonly Stack<uint> freeFrames = new();

    public UserModeMachine()
    {
        Cpu = new X86Cpu(Bus, Io, new InterruptPin());
        BuildKernel();
    }

    // ---- physical memory ------------------------------------------------------------------------------

    public uint AllocateFrame()
    {
        uint f = freeFrames.Count > 0 ? freeFrames.Pop() : nextFrame;
        if (f == nextFrame)
        {
            if (nextFrame >= RamSize) throw new OutOfMemoryException("the test machine is out of guest RAM");
            nextFrame += 0x1000;
        }
        Bus.DmaWrite(f, new byte[4096]);
        return f;
    }

    private void W32(uint phys, uint v) => Bus.Write32(phys, v);
    private void W64(uint phys, ulong v) { Bus.Write32(phys, (uint)v); Bus.Write32(phys + 4, (uint)(v >> 32)); }

    private void BuildKernel()
    {
        // GDT (SDM Vol. 3, 3.4.5): null, ring-0 code/data, ring-3 code/data, TSS.
        W64(Gdt + 0x08, 0x00CF_9B00_0000_FFFF);
        W64(Gdt + 0x10, 0x00CF_9300_0000_FFFF);
        W64(Gdt + 0x18, 0x00CF_FB00_0000_FFFF);
        W64(Gdt + 0x20, 0x00CF_F300_0000_FFFF);
        W64(Gdt + 0x28, Descriptor(Tss, 0x67, 0x89, 0));
        // TSS: the ring-0 stack for entries from ring 3.
        W32(Tss + 4, KernelStack);
        W32(Tss + 8, KernelData);
        W32(Tss + 0x64, 0x68u << 16);            // I/O bitmap beyond the limit: ring 3 has no ports
        // Stubs: the system call and the fault reporters.
        Bus.DmaWrite(Stubs, new byte[] { 0xE6, (byte)SyscallPort, 0xCF });     // out 0xE0, al; iretd
        for (int v = 0; v < 32; v++)
        {
            uint at = Stubs + 0x100 + (uint)v * 8;
            Bus.DmaWrite(at, new byte[] { 0xB0, (byte)v, 0xE6, (byte)FaultPort, 0xF4, 0xEB, 0xFE, 0x90 });   // mov al, v; out; hlt
            Gate(v, at, 0x8E);
        }
        Gate(0x80, Stubs, 0xEE);
        // Paging: the first 4 MiB identity-mapped for the supervisor only.
        for (uint p = 0; p < 1024; p++) W32(KernelPageTable + p * 4, p << 12 | 3);
        W32(PageDirectory, KernelPageTable | 3);

        Cpu.SetGdtr(Gdt, 8 * 9 - 1);
        Cpu.SetIdtr(Idt, 256 * 8 - 1);
        Cpu.Cr3 = PageDirectory;
        Cpu.Cr0 = 0x8000_0031;                   // PG, NE, ET, PE
        LoadTaskRegister();
    }

    /// <summary>LTR needs ring-0 code: a short program at the stub page loads TR and gives the x87 the
    /// FNINIT state Linux gives a new process.</summary>
    private void LoadTaskRegister()
    {
        Cpu.SetSegment(SegmentRegister.CS, KernelCode, 0, 0xFFFF_FFFF, 0xC09B);
        Cpu.SetSegment(SegmentRegister.SS, KernelData, 0, 0xFFFF_FFFF, 0xC093);
        // mov ax, 0x28; ltr ax; fninit; hlt
        Bus.DmaWrite(Stubs + 0x80, new byte[] { 0x66, 0xB8, (byte)TssSel, 0x00, 0x0F, 0x00, 0xD8, 0xDB, 0xE3, 0xF4 });
        Cpu.Eip = Stubs + 0x80;
        if (Cpu.Run(10) != CpuExit.Halted) throw new InvalidOperationException("LTR did not run");
    }

    private static ulong Descriptor(uint @base, uint limit, byte access, byte flags) =>
        (limit & 0xFFFF) | (ulong)(@base & 0xFF_FFFF) << 16 | (ulong)access << 40 |
        (ulong)((limit >> 16) & 0xF) << 48 | (ulong)flags << 52 | (ulong)(@base >> 24) << 56;

    private void Gate(int vector, uint handler, byte attr)
    {
        uint e = Idt + (uint)vector * 8;
        W32(e, (handler & 0xFFFF) | (uint)KernelCode << 16);
        W32(e + 4, (handler & 0xFFFF_0000) | (uint)attr << 8);
    }

    /// <summary>Writes a user TLS descriptor into GDT entry 6-8 (set_thread_area).</summary>
    public void SetTlsDescriptor(int entry, uint @base, uint limit, bool limitInPages, bool present)
    {
        ulong d = present ? Descriptor(@base, limit, 0xF2, (byte)(limitInPages ? 0xC : 0x4)) : 0;
        W64(Gdt + (uint)entry * 8, d);
    }

    // ---- user address space ---------------------------------------------------------------------------

    private uint Pte(uint vaddr, bool create)
    {
        uint pdeAddr = PageDirectory + (vaddr >> 22) * 4;
        uint pde = Bus.Read32(pdeAddr);
        if ((pde & 1) == 0)
        {
            if (!create) return 0;
            uint pt = AllocateFrame();
            pde = pt | 7;
            W32(pdeAddr, pde);
        }
        return (pde & 0xFFFF_F000) + ((vaddr >> 12) & 0x3FF) * 4;
    }

    public bool IsMapped(uint vaddr)
    {
        uint pte = Pte(vaddr, false);
        return pte != 0 && (Bus.Read32(pte) & 1) != 0;
    }

    /// <summary>Maps a zeroed user page (no-op when mapped).</summary>
    public void MapUser(uint vaddr)
    {
        if (vaddr < 0x40_0000) throw new ArgumentOutOfRangeException(nameof(vaddr), "the first 4 MiB belong to the kernel");
        uint pte = Pte(vaddr, true);
        if ((Bus.Read32(pte) & 1) != 0) return;
        W32(pte, AllocateFrame() | 7);
    }

    public void UnmapUser(uint vaddr)
    {
        uint pte = Pte(vaddr, false);
        if (pte == 0) return;
        uint v = Bus.Read32(pte);
        if ((v & 1) == 0) return;
        W32(pte, 0);
        freeFrames.Push(v & 0xFFFF_F000);
    }

    /// <summary>Drops the CPU's translations after the page tables changed (a kernel would INVLPG).</summary>
    public void FlushTlb() => Cpu.Cr3 = PageDirectory;

    private bool Translate(uint vaddr, out uint phys)
    {
        phys = 0;
        uint pte = Pte(vaddr, false);
        if (pte == 0) return false;
        uint v = Bus.Read32(pte);
        if ((v & 1) == 0) return false;
        phys = (v & 0xFFFF_F000) | (vaddr & 0xFFF);
        return true;
    }

    public bool ReadUser(uint vaddr, Span<byte> dst)
    {
        int done = 0;
        while (done < dst.Length)
        {
            uint a = vaddr + (uint)done;
            if (!Translate(a, out uint phys)) return false;
            int n = Math.Min(dst.Length - done, 4096 - (int)(a & 0xFFF));
            if (!Bus.DmaRead(phys, dst.Slice(done, n))) return false;
            done += n;
        }
        return true;
    }

    public bool WriteUser(uint vaddr, ReadOnlySpan<byte> src)
    {
        int done = 0;
        while (done < src.Length)
        {
            uint a = vaddr + (uint)done;
            if (!Translate(a, out uint phys)) return false;
            int n = Math.Min(src.Length - done, 4096 - (int)(a & 0xFFF));
            if (!Bus.DmaWrite(phys, src.Slice(done, n))) return false;
            done += n;
        }
        return true;
    }

    public bool ReadU32(uint vaddr, out uint v)
    {
        Span<byte> b = stackalloc byte[4];
        bool ok = ReadUser(vaddr, b);
        v = BinaryPrimitives.ReadUInt32LittleEndian(b);
        return ok;
    }

    public bool WriteU32(uint vaddr, uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return WriteUser(vaddr, b);
    }

    public string? ReadString(uint vaddr, int max = 4096)
    {
        var bytes = new List<byte>();
        Span<byte> b = stackalloc byte[1];
        for (int k = 0; k < max; k++)
        {
            if (!ReadUser(vaddr + (uint)k, b)) return null;
            if (b[0] == 0) return System.Text.Encoding.UTF8.GetString(bytes.ToArray());
            bytes.Add(b[0]);
        }
        return null;
    }

    /// <summary>Enters ring 3 at <paramref name="entry"/> with the given stack (the state of execve's return).</summary>
    public void EnterUser(uint entry, uint esp)
    {
        for (int r = 0; r < 8; r++) Cpu.SetRegister((Register32)r, 0);
        Cpu.SetRegister(Register32.Esp, esp);
        Cpu.SetSegment(SegmentRegister.CS, UserCode, 0, 0xFFFF_FFFF, 0xC0FB);
        foreach (var s in new[] { SegmentRegister.SS, SegmentRegister.DS, SegmentRegister.ES })
            Cpu.SetSegment(s, UserData, 0, 0xFFFF_FFFF, 0xC0F3);
        Cpu.SetSegment(SegmentRegister.FS, 0, 0, 0, 0);
        Cpu.SetSegment(SegmentRegister.GS, 0, 0, 0, 0);
        Cpu.Eflags = 0x202;
        Cpu.Eip = entry;
    }
}
