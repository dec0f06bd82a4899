using Cpu.Tests.Support;
using Emulator.Bus;
using Emulator.Cpu;
using Iced.Intel;
using NUnit.Framework;
using static Iced.Intel.AssemblerRegisters;

namespace Cpu.Tests;

/// <summary>What the machine relies on: the INTR pin with IF and the one-instruction interrupt shadow, HLT
/// handing control back, exact instruction budgets, RequestStop, decoded code dropped when it is rewritten by
/// the CPU or by DMA, #UD for every unimplemented instruction, shutdown on a triple fault, single-step traps,
/// the A20 mask, CPUID and RDTSC.</summary>
public class CpuBehaviourTests
{
    private const uint D = FlatMachine.DataBase;

    private sealed class Pic : IInterruptController
    {
        private readonly InterruptPin pin;
        public int Acknowledged;
        public Pic(InterruptPin pin) { this.pin = pin; pin.Controller = this; }
        public byte Acknowledge() { Acknowledged++; pin.Asserted = false; return 0x20; }
    }

    private sealed class Recorder : IPortDevice
    {
        public readonly List<uint> Values = new();
        public Action? OnWrite;
        public uint In(ushort port, int size) => 0;
        public void Out(ushort port, int size, uint value) { Values.Add(value); OnWrite?.Invoke(); }
    }

    private static (FlatMachine m, InterruptPin pin, Pic pic) MachineWithPic()
    {
        var pin = new InterruptPin();
        var bus = new MemoryBus(4u << 20);
        var m = new FlatMachine(bus, pin);
        var pic = new Pic(pin);
        // Handler for vector 0x20: count, record what the interrupted code had done, IRET.
        m.Load(a =>
        {
            a.inc(__dword_ptr[D + 0x100]);
            a.mov(eax, __dword_ptr[D + 4]);
            a.mov(__dword_ptr[D + 0x104], eax);
            a.iretd();
        }, 0x3000);
        m.SetGate(0x20, 0x3000);
        return (m, pin, pic);
    }

    [Test]
    public void InterruptWaitsForIfAndForTheInstructionAfterSti()
    {
        var (m, pin, pic) = MachineWithPic();
        m.Load(a =>
        {
            a.cli();
            a.mov(__dword_ptr[D], 1);           // the pin is asserted: nothing happens while IF = 0
            a.sti();
            a.mov(__dword_ptr[D + 4], 2);       // runs before the interrupt (STI shadow)
            a.mov(__dword_ptr[D + 8], 3);
            a.hlt();
        });
        pin.Asserted = true;
        m.Run();
        Assert.That(pic.Acknowledged, Is.EqualTo(1));
        Assert.That(m.Read32(D + 0x100), Is.EqualTo(1u), "handled once");
        Assert.That(m.Read32(D + 0x104), Is.EqualTo(2u), "the instruction after STI had run");
        Assert.That(m.Read32(D + 8), Is.EqualTo(3u));
    }

    [Test]
    public void HaltReturnsToTheLoopUntilAnInterruptWakesIt()
    {
        var (m, pin, pic) = MachineWithPic();
        m.Load(a =>
        {
            a.sti();
            a.hlt();
            a.mov(__dword_ptr[D + 12], 7);      // after the interrupt
            a.cli();
            a.hlt();
        });
        m.Cpu.Eip = FlatMachine.CodeBase;
        Assert.That(m.Cpu.Run(1000), Is.EqualTo(CpuExit.Halted));
        long count = m.Cpu.InstructionCount;
        Assert.That(m.Cpu.Run(1000), Is.EqualTo(CpuExit.Halted), "still halted with nothing pending");
        Assert.That(m.Cpu.InstructionCount, Is.EqualTo(count), "no instruction ran");
        pin.Asserted = true;
        Assert.That(m.Cpu.Run(1000), Is.EqualTo(CpuExit.Halted));
        Assert.That(pic.Acknowledged, Is.EqualTo(1));
        Assert.That(m.Read32(D + 12), Is.EqualTo(7u), "execution resumed after the HLT");
    }

    [Test]
    public void TheBudgetIsExact()
    {
        var m = new FlatMachine();
        m.Load(a => { for (int k = 0; k < 40; k++) a.inc(eax); a.hlt(); });
        m.Cpu.Eip = FlatMachine.CodeBase;
        Assert.That(m.Cpu.Run(7), Is.EqualTo(CpuExit.BudgetExhausted));
        Assert.That(m.Cpu.InstructionCount, Is.EqualTo(7));
        Assert.That(m.Cpu.GetRegister(Register32.Eax), Is.EqualTo(7u));
        Assert.That(m.Cpu.Eip, Is.EqualTo(FlatMachine.CodeBase + 7));
        Assert.That(m.Cpu.Run(100), Is.EqualTo(CpuExit.Halted));
        Assert.That(m.Cpu.InstructionCount, Is.EqualTo(41));
    }

    [Test]
    public void RequestStopFromADeviceEndsTheSliceAfterItsInstruction()
    {
        var m = new FlatMachine();
        var dev = new Recorder();
        dev.OnWrite = () => m.Cpu.RequestStop();
        m.Io.Register(0x80, 1, dev);
        m.Load(a => { a.inc(eax); a.@out(0x80, al); a.inc(eax); a.inc(eax); a.hlt(); });
        m.Cpu.Eip = FlatMachine.CodeBase;
        Assert.That(m.Cpu.Run(100), Is.EqualTo(CpuExit.Stopped));
        Assert.That(m.Cpu.InstructionCount, Is.EqualTo(2));
        Assert.That(dev.Values, Is.EqualTo(new[] { 1u }));
    }

    private sealed class StoppingMmio : IMmioDevice
    {
        public X86Cpu? Cpu;
        public uint Read(uint offset, int size) => 0;
        public void Write(uint offset, int size, uint value) => Cpu!.RequestStop();
    }

    [Test]
    public void RequestStopFromAnMmioWriteEndsTheSliceAfterThatInstruction()
    {
        var m = new FlatMachine();
        var dev = new StoppingMmio { Cpu = m.Cpu };
        m.Bus.MapMmio(0x30_0000, 0x1000, dev, "stopper");
        m.Load(a => { a.inc(eax); a.mov(__dword_ptr[0x30_0000], eax); a.inc(eax); a.inc(eax); a.hlt(); });
        m.Cpu.Eip = FlatMachine.CodeBase;
        Assert.That(m.Cpu.Run(100), Is.EqualTo(CpuExit.Stopped));
        Assert.That(m.Cpu.InstructionCount, Is.EqualTo(2));
        Assert.That(m.Cpu.GetRegister(Register32.Eax), Is.EqualTo(1u));
    }

    [Test]
    public void CodeWrittenByTheCpuIsExecutedAsWritten()
    {
        var m = new FlatMachine();
        // mov eax, imm32 at D+0x10 is patched in place by the instructions just before it, in the same block,
        // and a loop rewrites the immediate of an instruction that already ran.
        m.Load(a =>
        {
            var target = a.CreateLabel();
            a.mov(ebx, 0);
            a.mov(ecx, 3);
            var loop = a.CreateLabel();
            a.Label(ref loop);
            a.mov(__dword_ptr[FlatMachine.CodeBase + 0x40 + 1], ecx);   // patch the immediate below
            a.call(FlatMachine.CodeBase + 0x40);
            a.add(ebx, eax);
            a.dec(ecx);
            a.jnz(loop);
            a.hlt();
        });
        m.Load(a => { a.mov(eax, 0x1111); a.ret(); }, FlatMachine.CodeBase + 0x40);
        m.Run();
        Assert.That(m.Cpu.GetRegister(Register32.Ebx), Is.EqualTo(3u + 2 + 1), "each call saw the new immediate");
    }

    [Test]
    public void DmaIntoCodeDropsTheDecodedBlock()
    {
        var m = new FlatMachine();
        m.Load(a => { a.mov(eax, 1); a.hlt(); });
        m.Run();
        Assert.That(m.Cpu.GetRegister(Register32.Eax), Is.EqualTo(1u));
        var code = new byte[] { 0xB8, 0x02, 0, 0, 0, 0xF4 };          // mov eax, 2; hlt
        Assert.That(m.Bus.DmaWrite(FlatMachine.CodeBase, code), Is.True);
        m.Run();
        Assert.That(m.Cpu.GetRegister(Register32.Eax), Is.EqualTo(2u));
    }

    [TestCase(new byte[] { 0x0F, 0x28, 0xC1 }, "movaps xmm0, xmm1 (SSE)")]
    [TestCase(new byte[] { 0x0F, 0x01, 0xF9 }, "rdtscp")]
    [TestCase(new byte[] { 0xF3, 0x0F, 0xB8, 0xC1 }, "popcnt")]
    [TestCase(new byte[] { 0x0F, 0xAE, 0x00 }, "fxsave (no FXSR)")]
    [TestCase(new byte[] { 0x0F, 0x6F, 0xC1 }, "movq mm0, mm1 (MMX)")]
    [TestCase(new byte[] { 0x0F, 0x0B }, "ud2")]
    [TestCase(new byte[] { 0xC5, 0xF8, 0x77 }, "vzeroupper (VEX: LDS with a register operand on a 386)")]
    [TestCase(new byte[] { 0xDB, 0x08 }, "fisttp (SSE3)")]
    [TestCase(new byte[] { 0x0F, 0xAA }, "rsm outside SMM")]
    public void UnimplementedInstructionsRaiseUd(byte[] bytes, string what)
    {
        var m = new FlatMachine();
        m.Load(a => { a.mov(__dword_ptr[D], 6); a.hlt(); }, 0x3000);
        m.SetGate(6, 0x3000);
        m.Bus.Load(FlatMachine.CodeBase, bytes.Concat(new byte[] { 0xF4 }).ToArray());
        m.Run();
        Assert.That(m.Read32(D), Is.EqualTo(6u), what);
        Assert.That(m.Cpu.Eip, Is.EqualTo(0x3000u + 11), "the #UD handler ran");
    }

    [Test]
    public void TripleFaultShutsTheProcessorDown()
    {
        var m = new FlatMachine();
        m.Cpu.SetIdtr(0, 0);                  // every vector is beyond the IDT limit
        m.Load(a => { a.int3(); a.hlt(); });
        m.Cpu.Eip = FlatMachine.CodeBase;
        Assert.That(m.Cpu.Run(100), Is.EqualTo(CpuExit.Shutdown));
        Assert.That(m.Cpu.IsShutdown, Is.True);
        m.Cpu.Reset();
        Assert.That(m.Cpu.IsShutdown, Is.False);
        Assert.That(m.Cpu.Eip, Is.EqualTo(0xFFF0u));
        Assert.That(m.Cpu.GetSegmentBase(SegmentRegister.CS), Is.EqualTo(0xFFFF_0000u));
    }

    [Test]
    public void EndlessFaultsOnFetchStillEndTheSlice()
    {
        // Every exception handler sits on an unmapped page: each delivery faults on the next fetch, forever,
        // as it would on hardware; the slice must still come back to the loop.
        var m = new FlatMachine();
        const uint pd = 0x30_0000, pt = 0x30_1000;
        m.Write32(pd, pt | 3);
        for (uint p = 0; p < 1024; p++) m.Write32(pt + p * 4, p != 0x3F0 ? (p << 12) | 3 : 0);   // 4 MiB but one page
        for (int v = 0; v < 32; v++) m.SetGate(v, 0x100_0000 + (uint)v * 16);                        // beyond: unmapped
        m.Cpu.Cr3 = pd;
        m.Cpu.Cr0 |= 0x8000_0000;
        m.Load(a => { a.mov(eax, __dword_ptr[0x3F_0000]); a.hlt(); });   // #PF to begin with
        m.Cpu.SetRegister(Register32.Esp, 0x3E_F000);   // room for the frames of 10,000 deliveries
        m.Cpu.Eip = FlatMachine.CodeBase;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.That(m.Cpu.Run(10_000), Is.EqualTo(CpuExit.BudgetExhausted));
        Assert.That(m.Cpu.InstructionCount, Is.Zero, "nothing retired");
        Assert.That(sw.Elapsed.TotalSeconds, Is.LessThan(5));
    }

    [Test]
    public void TheTlbKeepsGlobalTranslationsAcrossCr3Writes()
    {
        // The SDM lets global (G) translations survive a CR3 load when CR4.PGE is set; this TLB keeps them, which
        // is what makes Linux's context switches cheap. A non-global translation is dropped.
        var m = new FlatMachine();
        const uint pd = 0x30_0000, pt = 0x30_1000;
        m.Write32(pd, pt | 3);
        for (uint p = 0; p < 1024; p++) m.Write32(pt + p * 4, (p << 12) | 3);
        m.Write32(pt + 0x250 * 4, 0x25_0000 | 0x103);                      // global
        m.Write32(0x25_0000, 1); m.Write32(0x26_0000, 2); m.Write32(0x27_0000, 3); m.Write32(0x28_0000, 4);
        m.Cpu.Cr3 = pd;
        m.Cpu.Cr4 = 0x80;
        m.Cpu.Cr0 |= 0x8000_0000;
        m.Load(a =>
        {
            a.mov(eax, __dword_ptr[0x25_0000]);                            // cache both translations
            a.mov(eax, __dword_ptr[0x27_0000]);
            a.mov(__dword_ptr[pt + 0x250 * 4], 0x26_0000 | 0x103);        // remap both, no INVLPG
            a.mov(__dword_ptr[pt + 0x270 * 4], 0x28_0000 | 0x3);
            a.mov(eax, cr3); a.mov(cr3, eax);
            a.mov(eax, __dword_ptr[0x25_0000]); a.mov(__dword_ptr[D], eax);
            a.mov(eax, __dword_ptr[0x27_0000]); a.mov(__dword_ptr[D + 4], eax);
            a.hlt();
        });
        m.Run();
        Assert.That(m.Read32(D), Is.EqualTo(1u), "the global translation survived the CR3 write");
        Assert.That(m.Read32(D + 4), Is.EqualTo(4u), "the non-global one was dropped");
    }

    [Test]
    public void LoopsAreDecodedOnce()
    {
        var m = new FlatMachine();
        m.Load(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 100_000);
            a.Label(ref top);
            a.add(eax, ecx); a.xor(ebx, eax); a.dec(ecx); a.jnz(top);
            a.hlt();
        });
        m.Run();
        Assert.That(m.Cpu.InstructionCount, Is.EqualTo(1 + 4 * 100_000 + 1));
        Assert.That(m.Cpu.BlocksDecoded, Is.LessThanOrEqualTo(3), "the loop body was decoded once");
    }

    [Test]
    public void TrapFlagRaisesDebugAfterEachInstruction()
    {
        var m = new FlatMachine();
        m.Load(a => { a.inc(__dword_ptr[D + 0x20]); a.iretd(); }, 0x3000);
        m.SetGate(1, 0x3000);
        m.Load(a =>
        {
            a.pushfd();
            a.or(__dword_ptr[esp], 0x100);
            a.popfd();                        // TF from here on: the next instruction traps
            a.nop();
            a.nop();
            a.pushfd();
            a.and(__dword_ptr[esp], ~0x100);
            a.popfd();                        // traps one last time (TF was set when it began)
            a.hlt();
        });
        m.Run();
        Assert.That(m.Read32(D + 0x20), Is.EqualTo(5u), "nop, nop, pushfd, and, popfd");
    }

    [Test]
    public void A20MaskWrapsAddressesAboveOneMegabyte()
    {
        var bus = new MemoryBus(2u << 20);
        var cpu = new X86Cpu(bus, new IoPortBus(), new InterruptPin());
        bus.Write8(0x0_0010, 0xAA);
        bus.Write8(0x10_0010, 0xBB);
        // Real mode at 0000:7C00: mov ax, 0xFFFF; mov ds, ax; mov al, [0x20]; hlt  (FFFF:0020 = 0x100010)
        bus.Load(0x7C00, new byte[] { 0xB8, 0xFF, 0xFF, 0x8E, 0xD8, 0xA0, 0x20, 0x00, 0xF4 });
        foreach (var (a20, expected) in new[] { (true, 0xBBu), (false, 0xAAu) })
        {
            bus.A20Enabled = a20;
            cpu.Reset();
            cpu.SetSegment(SegmentRegister.CS, 0, 0, 0xFFFF, 0x9B);
            cpu.Eip = 0x7C00;
            Assert.That(cpu.Run(10), Is.EqualTo(CpuExit.Halted));
            Assert.That(cpu.GetRegister(Register32.Eax) & 0xFF, Is.EqualTo(expected), $"A20 {(a20 ? "on" : "off")}");
        }
    }

    [Test]
    public void CpuidReportsAFamily6PartWithExactlyTheImplementedFeatures()
    {
        var m = new FlatMachine();
        m.Load(a =>
        {
            a.xor(eax, eax); a.cpuid();
            a.mov(__dword_ptr[D], ebx); a.mov(__dword_ptr[D + 4], edx); a.mov(__dword_ptr[D + 8], ecx);
            a.mov(eax, 1); a.cpuid();
            a.mov(__dword_ptr[D + 12], eax); a.mov(__dword_ptr[D + 16], edx); a.mov(__dword_ptr[D + 20], ecx);
            a.hlt();
        });
        m.Run();
        var vendor = new byte[12];
        for (int k = 0; k < 12; k++) vendor[k] = m.Bus.Read8(D + (uint)k);
        Assert.That(System.Text.Encoding.ASCII.GetString(vendor), Is.EqualTo("GenuineIntel"));
        Assert.That((m.Read32(D + 12) >> 8) & 0xF, Is.EqualTo(6u), "family 6");
        // fpu(0) pse(3) tsc(4) msr(5) cx8(8) sep(11) pge(13) cmov(15), nothing else
        Assert.That(m.Read32(D + 16), Is.EqualTo(1u | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 8 | 1 << 11 | 1 << 13 | 1 << 15));
        Assert.That(m.Read32(D + 20), Is.Zero);
    }

    [Test]
    public void BiosSignIdAcceptsWritesAndReadsMicrocodeRevisionZero()
    {
        // Linux's intel_get_microcode_revision: WRMSR 0x8B := 0, CPUID.1, RDMSR 0x8B (SDM Vol. 3, 10.11.7.1).
        // Without the MSR the WRMSR already raises #GP: the handler records the vector and the EIP and stops.
        var m = new FlatMachine();
        const uint handler = FlatMachine.CodeBase + 0x800;
        m.Load(a => { a.mov(__dword_ptr[D + 16], 13); a.pop(eax); a.pop(eax); a.mov(__dword_ptr[D + 20], eax); a.hlt(); }, handler);
        m.SetGate(13, handler);
        m.Load(a =>
        {
            a.mov(__dword_ptr[D + 8], 0x11111111); a.mov(__dword_ptr[D + 12], 0x22222222);
            a.mov(ecx, 0x8B); a.xor(eax, eax); a.xor(edx, edx); a.wrmsr();
            a.mov(eax, 1); a.cpuid();
            a.mov(ecx, 0x8B); a.mov(eax, 0xDEAD); a.mov(edx, 0xBEEF); a.rdmsr();
            a.mov(__dword_ptr[D + 8], eax); a.mov(__dword_ptr[D + 12], edx);
            a.mov(ecx, 0x8C); a.rdmsr();                                      // a neighbour that does not exist
            a.hlt();
        });
        m.Run();
        Assert.That(m.Read32(D + 12), Is.Zero, "EDX: microcode revision 0");
        Assert.That(m.Read32(D + 8), Is.Zero, "EAX: reserved, 0");
        Assert.That(m.Read32(D + 16), Is.EqualTo(13u), "RDMSR 0x8C still raises #GP");
        Assert.That(m.Read32(D + 20), Is.GreaterThan(FlatMachine.CodeBase + 0x40), "the #GP came from the last RDMSR, not the first accesses");
    }

    [Test]
    public void P6PerformanceCountersHoldWhatIsWritten_AsLinuxsCheckHwExistsReadsThem()
    {
        // Linux's check_hw_exists (arch/x86/events/core.c) reads PerfEvtSel0/1 (186h/187h), then flips the low
        // 16 bits of a counter and reads it back; without these MSRs it logs "Broken PMU hardware detected".
        // P6 counters are 40 bits; WRMSR writes bits 31:0 and sign-extends bit 31 into 39:32 (SDM Vol. 3B);
        // RDPMC ECX=0/1 reads them.
        var m = new FlatMachine();
        const uint handler = FlatMachine.CodeBase + 0x800;
        m.Load(a => { a.mov(__dword_ptr[D + 60], 13); a.pop(eax); a.pop(eax); a.mov(__dword_ptr[D + 64], eax); a.hlt(); }, handler);
        m.SetGate(13, handler);
        m.Load(a =>
        {
            a.mov(ecx, 0x186); a.mov(eax, 0x0041_0000 | 0x79); a.xor(edx, edx); a.wrmsr();
            a.mov(ecx, 0x186); a.rdmsr(); a.mov(__dword_ptr[D + 0], eax);
            a.mov(ecx, 0x187); a.rdmsr(); a.mov(__dword_ptr[D + 4], eax);          // never written: 0
            a.mov(ecx, 0xC1); a.mov(eax, 0x8000_1234); a.xor(edx, edx); a.wrmsr();  // bit 31 set: sign-extended
            a.mov(ecx, 0xC1); a.rdmsr(); a.mov(__dword_ptr[D + 8], eax); a.mov(__dword_ptr[D + 12], edx);
            a.mov(ecx, 0xC2); a.mov(eax, 0x0000_FFFF); a.mov(edx, 0x12); a.wrmsr();  // bits 63:32 ignored
            a.xor(ecx, ecx); a.rdpmc(); a.mov(__dword_ptr[D + 16], eax); a.mov(__dword_ptr[D + 20], edx);
            a.mov(ecx, 1); a.rdpmc(); a.mov(__dword_ptr[D + 24], eax); a.mov(__dword_ptr[D + 28], edx);
            a.mov(ecx, 0xC3); a.rdmsr();                                              // no third counter on a P6
            a.hlt();
        });
        m.Run();
        Assert.That(m.Read32(D + 0), Is.EqualTo(0x0041_0079u), "PerfEvtSel0 as written");
        Assert.That(m.Read32(D + 4), Is.Zero, "PerfEvtSel1 after reset");
        Assert.That((m.Read32(D + 8), m.Read32(D + 12)), Is.EqualTo((0x8000_1234u, 0xFFu)), "PerfCtr0: bit 31 extended to bit 39");
        Assert.That((m.Read32(D + 16), m.Read32(D + 20)), Is.EqualTo((0x8000_1234u, 0xFFu)), "RDPMC 0");
        Assert.That((m.Read32(D + 24), m.Read32(D + 28)), Is.EqualTo((0x0000_FFFFu, 0u)), "RDPMC 1: the high half written is not kept");
        Assert.That(m.Read32(D + 60), Is.EqualTo(13u), "RDMSR 0xC3 raises #GP");
    }

    [Test]
    public void ClockReadingInstructionsSeeEveryInstructionBeforeThem()
    {
        // The machine's clock is paced by InstructionCount, which a block adds when it ends; RDTSC, RDMSR and
        // IN/OUT therefore run in blocks of their own. With the default TSC (the instruction count) two RDTSCs
        // three instructions apart read values three apart, and a port sees the count of everything before it.
        var m = new FlatMachine();
        var seen = new List<long>();
        m.Io.Register(0x80, 1, new CountingPort(() => seen.Add(m.Cpu.InstructionCount)));
        m.Load(a =>
        {
            a.mov(ecx, 0x10);
            a.rdtsc(); a.mov(esi, eax); a.nop(); a.nop();
            a.rdtsc(); a.sub(eax, esi); a.mov(__dword_ptr[D], eax);
            a.rdmsr(); a.sub(eax, esi); a.mov(__dword_ptr[D + 4], eax);          // MSR 0x10: the TSC
            a.mov(ebx, 1); a.mov(ebx, 2); a.@in(al, 0x80);
            a.mov(ebx, 3); a.@out(0x80, al);
            a.hlt();
        });
        m.Run();
        Assert.That(m.Read32(D), Is.EqualTo(4u), "rdtsc, mov, nop, nop retired between the two readings");
        Assert.That(m.Read32(D + 4), Is.EqualTo(7u), "three more up to the RDMSR");
        // mov ecx; rdtsc mov nop nop; rdtsc sub mov; rdmsr sub mov; mov mov: 13 before the IN, 15 before the OUT
        Assert.That(seen, Is.EqualTo(new long[] { 13, 15 }));
    }

    private sealed class CountingPort(Action onAccess) : IPortDevice
    {
        public uint In(ushort port, int size) { onAccess(); return 0; }
        public void Out(ushort port, int size, uint value) => onAccess();
    }

    [Test]
    public void RdtscReadsTheMachinesClockAndWrmsrAdjustsIt()
    {
        var m = new FlatMachine();
        ulong clock = 0x1_2345_6789;
        m.Cpu.TimeStampCounter = () => clock;
        m.Load(a =>
        {
            a.rdtsc(); a.mov(__dword_ptr[D], eax); a.mov(__dword_ptr[D + 4], edx);
            a.mov(ecx, 0x10); a.xor(eax, eax); a.xor(edx, edx); a.wrmsr();     // TSC := 0
            a.rdtsc(); a.mov(__dword_ptr[D + 8], eax);
            a.hlt();
        });
        m.Run();
        Assert.That(m.Read64(D), Is.EqualTo(0x1_2345_6789UL));
        Assert.That(m.Read32(D + 8), Is.Zero);
    }
}
