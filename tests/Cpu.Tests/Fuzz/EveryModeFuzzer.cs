using System.Buffers.Binary;
using Emulator.Bus;
using Emulator.Cpu;
using Emulator.Machine;
using Emulator.Pci;
using Qed;
using Qed.Storage;

namespace Cpu.Tests.Fuzz;

/// <summary>The CPU modes random code runs in.</summary>
public enum FuzzMode
{
    Real, Unreal, Protected16, Protected32, Paged32, User32, User16, V86Attempt,
}

/// <summary>Figures of a run.</summary>
public sealed class EveryModeStats
{
    public long Rounds, Instructions, Halts, Shutdowns, BudgetEnds, SanityRuns;
    public readonly long[] RoundsByMode = new long[Enum.GetValues<FuzzMode>().Length];
    /// <summary>Exceptions and interrupts that reached a guest handler, by vector.</summary>
    public readonly long[] Vectors = new long[256];
    public readonly List<string> Failures = new();

    public void Add(EveryModeStats o)
    {
        lock (this)
        {
            Rounds += o.Rounds; Instructions += o.Instructions; Halts += o.Halts; Shutdowns += o.Shutdowns; BudgetEnds += o.BudgetEnds;
            SanityRuns += o.SanityRuns;
            for (int i = 0; i < RoundsByMode.Length; i++) RoundsByMode[i] += o.RoundsByMode[i];
            for (int i = 0; i < 256; i++) Vectors[i] += o.Vectors[i];
            Failures.AddRange(o.Failures);
        }
    }

    public override string ToString()
    {
        var top = Vectors.Select((n, v) => (v, n)).Where(x => x.n > 0).OrderByDescending(x => x.n).Take(10)
            .Select(x => $"#{x.v}:{x.n}");
        return $"{Rounds} rounds ({string.Join(", ", Enum.GetValues<FuzzMode>().Select(m => $"{m} {RoundsByMode[(int)m]}"))}), " +
               $"{Instructions} instructions; ended by a guest handler {Halts}, shutdown {Shutdowns}, budget {BudgetEnds}; " +
               $"vectors delivered {Vectors.Count(n => n > 0)} distinct ({string.Join(" ", top)}); {SanityRuns} sanity programs; {Failures.Count} failures";
    }
}

/// <summary>
/// Random bytes executed by the CPU on the whole board (PIC, PIT, RTC, UARTs, 8042, PCI, a virtio disk,
/// fw_cfg on their ports; the virtio BARs and a firmware ROM of random bytes in the address space), in
/// every mode the CPU implements: real and unreal mode, 16- and 32-bit protected mode at ring 0 and
/// ring 3, with and without paging (random page-table damage, 4 MiB pages, global pages), with CR0
/// variants (TS, EM, AM, WP, NE), a TSS with an I/O bitmap, an LDT, call and task gates, a double-fault
/// task, and an IRET that asks for virtual-8086 mode (not implemented: it must fault, not crash).
/// Registers start with values that point at device ports, MMIO and page edges. Whatever the bytes do,
/// the CPU answers with guest-visible behaviour (exceptions through the IDT, shutdown, halt) and never
/// with a host exception or a hang; after any round a known program still computes the right result.
/// </summary>
public sealed class EveryModeFuzzer : IDisposable
{
    private const uint Ram = 16 << 20;
    private const uint Gdt = 0x1000, Idt = 0x1800, Tss = 0x2000, Tss2 = 0x4800, Ldt = 0x4900;
    private const uint Handlers32 = 0x6000, Handlers16 = 0x7000, Stub = 0x8000, Sanity = 0x8200;
    private const uint PageDirectory = 0x10000, KernelStack = 0x9F000;
    private const ushort Code32 = 0x08, Data32 = 0x10, Code16 = 0x18, Data16 = 0x20, UserCode32 = 0x2B, UserData32 = 0x33,
        UserCode16 = 0x3B, UserData16 = 0x43, TssSel = 0x48, LdtSel = 0x50, CallGate = 0x5B, Tss2Sel = 0x60;

    private static readonly uint[] Interesting =
    [
        0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF, 0x1_0000, 0xFFF, 0x1000,
        0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x60, 0x61, 0x64, 0x70, 0x71, 0x92, 0x3F8, 0x3F9, 0x3FB, 0x3FD, 0x2F8,
        0xCF8, 0xCFC, 0xCF9, 0x4D0, 0x4D1, 0x510, 0x511, 0x402, 0xC000, 0xC004, 0xC008, 0xC00C, 0xC010, 0xC012, 0xC013, 0xC014,
        0xFEBF_C000, 0xFEBF_D000, 0xFEBF_E000, 0xFEBF_F000, 0xFEC0_0000, 0xFEE0_0000, 0xFFFF_0000, 0xFFFF_FFF0, 0xA0000, 0xE0000,
        Ram - 1, Ram - 4, Ram, 0x80000000 | 0x8000_0001,
    ];

    private readonly Random _rng;
    private readonly Pc _pc;
    private readonly X86Cpu _cpu;
    private readonly MemoryBus _bus;
    private readonly string _rom;
    private readonly EveryModeStats _stats = new();

    public EveryModeFuzzer(int seed)
    {
        _rng = new Random(seed);
        // A firmware ROM of random bytes: code that jumps there runs it.
        _rom = Path.Combine(Path.GetTempPath(), $"fuzz-rom-{Environment.ProcessId}-{seed}.bin");
        var rom = new byte[64 * 1024];
        _rng.NextBytes(rom);
        File.WriteAllBytes(_rom, rom);
        var options = new MachineOptions
        {
            Bios = _rom,
            MemoryBytes = Ram,
            Drives = [new DriveOptions { File = "fuzz.raw" }],
            Serials = [new SerialOptions { Kind = CharBackendKind.Null }],
        };
        _pc = new Pc(options, (m, io, pin) => new X86Cpu(m, io, pin),
            _ => new RawImage(new MemoryFile(1 << 20), readOnly: false),
            _ => new Emulator.Devices.NullCharBackend(), TextWriter.Null);
        _cpu = (X86Cpu)_pc.Cpu;
        _bus = _pc.Memory;
        _pc.PowerOn();
        // What firmware does: BARs placed and decoded, so the virtio disk answers on its ports and MMIO.
        PciFirmware.Configure(_pc.PciBus, _pc.IsaBridge, elcr => _pc.Pic.Out(0x4D0, 2, elcr), Ram);
    }

    public EveryModeStats Stats => _stats;

    /// <summary>
    /// Runs <paramref name="rounds"/> rounds on a thread of its own (the board's event loop belongs to
    /// it); false when they did not end within <paramref name="limit"/> (a hang). Failures are listed
    /// in <see cref="Stats"/>.
    /// </summary>
    public bool Run(int rounds, TimeSpan limit)
    {
        var thread = new Thread(() =>
        {
            _pc.Loop.BindToCurrentThread();
            RunRounds(rounds);
        }) { IsBackground = true, Name = "every-mode fuzzer" };
        thread.Start();
        return thread.Join(limit);
    }

    private void RunRounds(int rounds, int budget = 3000)
    {
        var modes = Enum.GetValues<FuzzMode>();
        for (int round = 0; round < rounds; round++)
        {
            var mode = modes[_rng.Next(modes.Length)];
            var code = new byte[_rng.Next(16, 1024)];
            _rng.NextBytes(code);
            string where = $"round {round}, mode {mode}, code {Convert.ToHexString(code.AsSpan(0, Math.Min(24, code.Length)))}...";
            try
            {
                // Now and then the whole board is reset (random code may have turned A20 off, masked
                // the PIC, programmed the PIT...).
                if (round % 20 == 0)
                {
                    _pc.PowerOn();
                    PciFirmware.Configure(_pc.PciBus, _pc.IsaBridge, elcr => _pc.Pic.Out(0x4D0, 2, elcr), Ram);
                }
                Setup(mode, code);
                _stats.Rounds++;
                _stats.RoundsByMode[(int)mode]++;
                long before = _cpu.InstructionCount;
                // Slices, with the board's timers and posted work in between (the PIT may be running).
                CpuExit exit = CpuExit.BudgetExhausted;
                for (int slice = 0; slice < 4 && exit == CpuExit.BudgetExhausted; slice++)
                {
                    exit = _cpu.Run(budget / 4);
                    _pc.Loop.RunPending();
                }
                _stats.Instructions += _cpu.InstructionCount - before;
                Classify(exit);
                if (round % 50 == 49) SanityCheck(where);
            }
            catch (Exception e)
            {
                _stats.Failures.Add($"{where}: host exception {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                return;
            }
        }
    }

    private void Classify(CpuExit exit)
    {
        switch (exit)
        {
            case CpuExit.Shutdown: _stats.Shutdowns++; break;
            case CpuExit.Halted:
                _stats.Halts++;
                uint eip = _cpu.Eip - 1;
                uint linear = _cpu.GetSegmentBase(SegmentRegister.CS) + eip;
                if (linear is >= Handlers32 and < Handlers32 + 256 * 8 && (linear - Handlers32) % 8 == 0) _stats.Vectors[(linear - Handlers32) / 8]++;
                else if (linear is >= Handlers16 and < Handlers16 + 256 * 8 && (linear - Handlers16) % 8 == 0) _stats.Vectors[(linear - Handlers16) / 8]++;
                break;
            default: _stats.BudgetEnds++; break;
        }
    }

    // ---- the environment -------------------------------------------------------------------------------

    private uint Value() => _rng.Next(3) switch
    {
        0 => Interesting[_rng.Next(Interesting.Length)],
        1 => (uint)_rng.Next(0, (int)Ram),
        _ => (uint)_rng.NextInt64(0, 1L << 32),
    };

    private void W(uint at, ReadOnlySpan<byte> bytes) => _bus.DmaWrite(at, bytes);
    private void W16(uint at, ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); W(at, b); }
    private void W32(uint at, uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); W(at, b); }
    private void W64(uint at, ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); W(at, b); }

    /// <summary>A segment descriptor (SDM Vol. 3, 3.4.5): limit in units of the granularity flag.</summary>
    private static ulong Descriptor(uint @base, uint limit, byte access, byte flags) =>
        (limit & 0xFFFF) | (ulong)(@base & 0xFF_FFFF) << 16 | (ulong)access << 40 | (ulong)((limit >> 16) & 0xF) << 48
        | (ulong)(flags & 0xF) << 52 | (ulong)(@base >> 24) << 56;

    /// <summary>A gate descriptor: interrupt, trap, call (offset + selector) or task (selector only).</summary>
    private static ulong Gate(ushort selector, uint offset, byte access, byte parameters = 0) =>
        (offset & 0xFFFF) | (ulong)selector << 16 | (ulong)parameters << 32 | (ulong)access << 40 | (ulong)(offset >> 16) << 48;

    private void BuildTables(bool sixteen)
    {
        // GDT: flat code and data at rings 0 and 3 in both sizes, the TSSs, the LDT, a call gate, and
        // random descriptors at the end for random code to load.
        var gdt = new ulong[32];
        gdt[Code32 >> 3] = Descriptor(0, 0xFFFFF, 0x9A, 0xC);
        gdt[Data32 >> 3] = Descriptor(0, 0xFFFFF, 0x92, 0xC);
        gdt[Code16 >> 3] = Descriptor(0, 0xFFFF, 0x9A, 0x0);
        gdt[Data16 >> 3] = Descriptor(0, 0xFFFF, 0x92, 0x0);
        gdt[UserCode32 >> 3] = Descriptor(0, 0xFFFFF, 0xFA, 0xC);
        gdt[UserData32 >> 3] = Descriptor(0, 0xFFFFF, 0xF2, 0xC);
        gdt[UserCode16 >> 3] = Descriptor(0, 0xFFFF, 0xFA, 0x0);
        gdt[UserData16 >> 3] = Descriptor(0, 0xFFFF, 0xF2, 0x0);
        gdt[TssSel >> 3] = Descriptor(Tss, 0x68 + 0x2000, 0x89, 0x0);
        gdt[LdtSel >> 3] = Descriptor(Ldt, 0x3F, 0x82, 0x0);
        gdt[CallGate >> 3] = Gate(Code32, Handlers32 + 0x80 * 8, 0xEC, (byte)_rng.Next(0, 4));
        gdt[Tss2Sel >> 3] = Descriptor(Tss2, 0x67, 0x89, 0x0);
        for (int i = (Tss2Sel >> 3) + 1; i < gdt.Length; i++) gdt[i] = (ulong)_rng.NextInt64() ^ ((ulong)_rng.Next() << 33);
        for (int i = 0; i < gdt.Length; i++) W64(Gdt + (uint)i * 8, gdt[i]);
        for (int i = 0; i < 8; i++) W64(Ldt + (uint)i * 8, _rng.Next(2) == 0 ? gdt[1 + _rng.Next(8)] : (ulong)_rng.NextInt64());

        // IDT: a handler per vector (HLT), through 32- or 16-bit interrupt or trap gates, some callable
        // from ring 3; #DF through a task gate (as Linux does).
        for (int v = 0; v < 256; v++)
        {
            bool gate16 = sixteen ? _rng.Next(8) != 0 : _rng.Next(8) == 0;
            byte dpl = (byte)(_rng.Next(3) == 0 ? 0x60 : 0);
            byte type = (byte)((gate16 ? 0x6 : 0xE) | (_rng.Next(6) == 0 ? 1 : 0));   // interrupt or trap gate
            ulong gate = gate16 ? Gate(Code16, Handlers16 + (uint)v * 8, (byte)(0x80 | dpl | type)) : Gate(Code32, Handlers32 + (uint)v * 8, (byte)(0x80 | dpl | type));
            if (v == 8) gate = Gate(Tss2Sel, 0, 0x85);
            W64(Idt + (uint)v * 8, gate);
            W(Handlers32 + (uint)v * 8, [0xF4, 0xEB, 0xFD, 0, 0, 0, 0, 0]);   // hlt; jmp back to it
            W(Handlers16 + (uint)v * 8, [0xF4, 0xEB, 0xFD, 0, 0, 0, 0, 0]);
            // Real mode: the IVT points at the same stubs (segment 0x0700).
            W32((uint)v * 4, (uint)(v * 8) | 0x0700u << 16);
        }

        // TSS: ring-0 stack, I/O permission bitmap (random bits: some ports open to ring 3).
        W(Tss, new byte[0x68]);
        W32(Tss + 4, KernelStack);
        W32(Tss + 8, Data32);
        W32(Tss + 0x1C, PageDirectory);
        W16(Tss + 0x66, 0x68);
        var bitmap = new byte[0x2001];
        _rng.NextBytes(bitmap);
        bitmap[^1] = 0xFF;
        W(Tss + 0x68, bitmap);
        // The double-fault task: its own stack, straight to the #DF handler.
        W(Tss2, new byte[0x68]);
        W32(Tss2 + 0x1C, PageDirectory);
        W32(Tss2 + 0x20, Handlers32 + 8 * 8);
        W32(Tss2 + 0x24, 2);
        W32(Tss2 + 0x38, 0x9E000);
        W32(Tss2 + 0x48, Data32);
        W32(Tss2 + 0x4C, Code32);
        W32(Tss2 + 0x50, Data32);
        W32(Tss2 + 0x54, Data32);
    }

    /// <summary>Identity page tables for RAM, the PCI hole and the ROM; random damage above 1 MiB, 4 MiB pages with PSE.</summary>
    private void BuildPageTables(bool user, bool largePages)
    {
        W(PageDirectory, new byte[4096]);
        uint table = PageDirectory + 0x1000;
        foreach (uint pde in new uint[] { 0, 1, 2, 3, 0x3FA, 0x3FB, 0x3FF })
        {
            if (largePages && pde is 2 or 3)
            {
                W32(PageDirectory + pde * 4, pde << 22 | 0x87u | (_rng.Next(2) == 0 ? 0x100u : 0));   // 4 MiB page, sometimes global
                continue;
            }
            W32(PageDirectory + pde * 4, table | 0x7);
            var ptes = new byte[4096];
            for (uint i = 0; i < 1024; i++)
            {
                uint page = pde << 22 | i << 12;
                uint flags = 0x7;
                if (page >= 0x10_0000 && _rng.Next(40) == 0) flags = (uint)_rng.Next(0, 8);              // not present, read-only, supervisor
                if (page < 0x10_0000 && !user) flags = 0x3;
                if (_rng.Next(100) == 0) flags |= 0x100;                                                   // global
                BinaryPrimitives.WriteUInt32LittleEndian(ptes.AsSpan((int)i * 4), page | flags);
            }
            W(table, ptes);
            table += 0x1000;
        }
    }

    private void Setup(FuzzMode mode, byte[] code)
    {
        _cpu.Reset();
        bool sixteen = mode is FuzzMode.Protected16 or FuzzMode.User16 or FuzzMode.Real or FuzzMode.Unreal;
        BuildTables(sixteen);
        // Random bytes here and there: data, stacks, the tables' neighbours.
        for (int k = 0; k < 64; k++) _bus.Write8((uint)_rng.Next(0x20000, 0x100000), (byte)_rng.Next(256));
        for (int r = 0; r < 8; r++) _cpu.SetRegister((Register32)r, Value());
        uint flags = (uint)_rng.Next() & 0x0CD5 | (_rng.Next(4) == 0 ? 0x200u : 0) | (_rng.Next(30) == 0 ? 0x100u : 0);

        if (mode is FuzzMode.Real or FuzzMode.Unreal)
        {
            uint at = (uint)_rng.Next(0x20000, 0x9F000 - code.Length);
            W(at, code);
            ushort realCs = (ushort)(at >> 4 & 0xF000);
            _cpu.SetSegment(SegmentRegister.CS, realCs, (uint)realCs << 4, 0xFFFF, 0x9B);
            foreach (var s in new[] { SegmentRegister.DS, SegmentRegister.ES, SegmentRegister.SS, SegmentRegister.FS, SegmentRegister.GS })
            {
                ushort sel = (ushort)_rng.Next(0x2000, 0x9000);
                _cpu.SetSegment(s, sel, (uint)sel << 4, mode == FuzzMode.Unreal && s != SegmentRegister.SS ? 0xFFFF_FFFF : 0xFFFF, 0x93);
            }
            _cpu.SetIdtr(0, 0x3FF);
            _cpu.SetGdtr(Gdt, 32 * 8 - 1);
            _cpu.Cr0 = 0x10 | (_rng.Next(4) == 0 ? 0x20u : 0);
            _cpu.Eflags = 2 | flags;
            _cpu.Eip = at - ((uint)realCs << 4);
            return;
        }

        bool paging = mode is FuzzMode.Paged32 or FuzzMode.User32 || (mode is FuzzMode.User16 or FuzzMode.V86Attempt && _rng.Next(2) == 0);
        bool user = mode is FuzzMode.User32 or FuzzMode.User16;
        bool large = _rng.Next(2) == 0;
        if (paging) BuildPageTables(user, large);
        _cpu.SetGdtr(Gdt, 32 * 8 - 1);
        _cpu.SetIdtr(Idt, 0x7FF);
        uint cr0 = 0x11;                                                    // PE, ET
        if (_rng.Next(2) == 0) cr0 |= 0x20;                                 // NE
        if (_rng.Next(6) == 0) cr0 |= 0x8;                                  // TS: the FPU raises #NM
        if (_rng.Next(10) == 0) cr0 |= 0x4;                                 // EM
        if (_rng.Next(3) == 0) cr0 |= 0x2;                                  // MP
        if (_rng.Next(3) == 0) cr0 |= 0x40000;                              // AM (alignment checks at ring 3 with AC)
        if (_rng.Next(2) == 0) cr0 |= 0x10000;                              // WP
        _cpu.Cr4 = (large ? 0x10u : 0) | (_rng.Next(2) == 0 ? 0x80u : 0) | (_rng.Next(5) == 0 ? 0x4u : 0);   // PSE, PGE, TSD
        _cpu.Cr3 = PageDirectory;
        _cpu.Cr0 = cr0 | (paging ? 0x8000_0000u : 0);
        _cpu.SetSegment(SegmentRegister.CS, Code32, 0, 0xFFFF_FFFF, 0xC09B);
        _cpu.SetSegment(SegmentRegister.SS, Data32, 0, 0xFFFF_FFFF, 0xC093);
        _cpu.Eflags = 2;

        // 16-bit segments have base 0 and a 64 KiB limit: their code stays between the tables and 64 KiB.
        uint codeAt = sixteen ? 0x9000 + (uint)_rng.Next(0, 0x6000) : (uint)_rng.Next(0x10_0000, (int)Ram - code.Length);
        W(codeAt, code);
        (ushort cs, ushort ds) = mode switch
        {
            FuzzMode.Protected16 => (Code16, Data16),
            FuzzMode.User32 => (UserCode32, UserData32),
            FuzzMode.User16 => (UserCode16, UserData16),
            _ => (Code32, Data32),
        };
        uint eflags = 2 | flags;
        if (mode == FuzzMode.V86Attempt) eflags |= 0x2_0000;               // VM: virtual-8086 mode is not implemented
        if (user && _rng.Next(3) == 0) eflags |= 0x4_0000;                 // AC
        if (_rng.Next(4) == 0) eflags |= (uint)_rng.Next(0, 4) << 12;      // IOPL
        // The stub: LTR, LLDT, data segments, IRETD into the mode under test.
        var stub = new List<byte>
        {
            0x66, 0xB8, (byte)TssSel, 0x00, 0x0F, 0x00, 0xD8,              // mov ax, TSS; ltr ax
            0x66, 0xB8, (byte)LdtSel, 0x00, 0x0F, 0x00, 0xD0,              // mov ax, LDT; lldt ax
            0x66, 0xB8, (byte)ds, 0x00, 0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xE0, 0x8E, 0xE8,   // ds, es, fs, gs
            0xCF,                                                          // iretd
        };
        W(Stub, stub.ToArray());
        uint sp = KernelStack - 0x100;
        uint userStack = sixteen ? 0xF000u : (uint)_rng.Next(0x20_0000, (int)Ram) & ~3u;
        var frame = new List<uint> { codeAt, cs, eflags };
        if (user || mode == FuzzMode.V86Attempt) frame.AddRange([userStack, user ? ds : (uint)Data32]);
        if (mode == FuzzMode.V86Attempt) frame.AddRange([0, 0, 0, 0]);    // ES, DS, FS, GS of a V86 frame
        for (int i = 0; i < frame.Count; i++) W32(sp + (uint)i * 4, frame[i]);
        _cpu.SetRegister(Register32.Esp, sp);
        _cpu.Eip = Stub;
    }

    /// <summary>
    /// After random code: the same CPU, freshly set up, still computes a known result in real mode, flat
    /// protected mode and with paging (decoded blocks, TLBs and segment caches left by the round must not leak).
    /// </summary>
    private void SanityCheck(string after)
    {
        _stats.SanityRuns++;
        foreach (var paging in new[] { false, true })
        {
            _cpu.Reset();
            BuildTables(sixteen: false);
            if (paging) BuildPageTables(user: false, largePages: false);
            // Present pages where the program runs.
            _cpu.SetGdtr(Gdt, 32 * 8 - 1);
            _cpu.SetIdtr(Idt, 0x7FF);
            _cpu.Cr4 = 0;
            _cpu.Cr3 = PageDirectory;
            _cpu.Cr0 = 0x31 | (paging ? 0x8000_0000u : 0);
            _cpu.SetSegment(SegmentRegister.CS, Code32, 0, 0xFFFF_FFFF, 0xC09B);
            foreach (var s in new[] { SegmentRegister.DS, SegmentRegister.ES, SegmentRegister.SS })
                _cpu.SetSegment(s, Data32, 0, 0xFFFF_FFFF, 0xC093);
            _cpu.SetRegister(Register32.Esp, KernelStack);
            _cpu.Eflags = 2;
            // sum 1..1000 into EAX, store it at 0x500, hlt
            W(Sanity, [0xB9, 0xE8, 0x03, 0, 0, 0x31, 0xC0, 0x01, 0xC8, 0xE2, 0xFC, 0xA3, 0x00, 0x05, 0, 0, 0xF4]);
            _cpu.Eip = Sanity;
            var exit = _cpu.Run(10_000);
            uint eax = _cpu.GetRegister(Register32.Eax);
            if (exit != CpuExit.Halted || eax != 500500 || _bus.Read32(0x500) != 500500)
                _stats.Failures.Add($"after {after}: the sanity program (paging {paging}) ended {exit} with EAX {eax}, memory {_bus.Read32(0x500)}");
        }
        // Real mode, 16-bit: AX = (sum 1..1000) mod 65536.
        _cpu.Reset();
        _cpu.SetSegment(SegmentRegister.CS, 0, 0, 0xFFFF, 0x9B);
        _cpu.SetSegment(SegmentRegister.SS, 0, 0, 0xFFFF, 0x93);
        _cpu.SetRegister(Register32.Esp, 0x7000);
        W(Sanity, [0xB9, 0xE8, 0x03, 0x31, 0xC0, 0x01, 0xC8, 0xE2, 0xFC, 0xF4]);
        _cpu.Eip = Sanity;
        var rexit = _cpu.Run(10_000);
        uint ax = _cpu.GetRegister(Register32.Eax) & 0xFFFF;
        if (rexit != CpuExit.Halted || ax != (500500 & 0xFFFF))
            _stats.Failures.Add($"after {after}: the real-mode sanity program ended {rexit} with AX {ax:x}");
    }

    public void Dispose()
    {
        _pc.DisposeAsync().AsTask().GetAwaiter().GetResult();
        try { File.Delete(_rom); } catch (IOException) { }
    }

    /// <summary>The virtio disk's image: a megabyte in memory.</summary>
    private sealed class MemoryFile(int size) : IImageFile
    {
        private readonly byte[] _data = new byte[size];
        public string Path => "/fuzz/disk.raw";
        public bool IsReadOnly => false;
        public long GetLength() => _data.Length;

        public ValueTask<int> ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = (int)Math.Clamp(_data.Length - offset, 0, buffer.Length);
            if (n > 0) _data.AsSpan((int)offset, n).CopyTo(buffer.Span);
            return ValueTask.FromResult(n);
        }

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (offset < 0 || offset + buffer.Length > _data.Length) throw new BlockIOException("write outside the test disk");
            buffer.Span.CopyTo(_data.AsSpan((int)offset));
            return ValueTask.CompletedTask;
        }

        public ValueTask FlushAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
        public ValueTask SetLengthAsync(long length, CancellationToken cancellationToken = default) => throw new BlockIOException("fixed-size test disk");
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
