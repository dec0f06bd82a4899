using Cpu.Tests.Support;
using Emulator.Cpu;
using Iced.Intel;
using NUnit.Framework;
using static Iced.Intel.AssemblerRegisters;

namespace Cpu.Tests;

/// <summary>REP MOVS/STOS, whose common cases run in bulk: the result must be that of the element-by-element
/// definition (SDM Vol. 2, MOVS and REP) across page boundaries, with overlapping operands, with paging, when a
/// page fault interrupts the copy part-way (restartable: ECX/ESI/EDI count the elements done), and when the
/// store overwrites code that follows.</summary>
public class StringInstructionTests
{
    private const uint Area = 0x10_0000;

    private static FlatMachine PagedMachine()
    {
        var m = new FlatMachine();
        const uint pd = 0x30_0000, pt = 0x30_1000;
        m.Write32(pd, pt | 3);
        for (uint p = 0; p < 1024; p++) m.Write32(pt + p * 4, (p << 12) | 3);
        m.Cpu.Cr3 = pd;
        m.Cpu.Cr0 |= 0x8000_0000;
        return m;
    }

    [TestCase(1, 0x0FF0, 0x2FF8, 100)]
    [TestCase(4, 0x0FFE, 0x2001, 3000)]        // elements straddling pages
    [TestCase(2, 0x0000, 0x0001, 5000)]        // destination one byte above: data is replicated forward
    [TestCase(4, 0x0004, 0x0006, 2000)]        // overlap closer than the element size
    [TestCase(4, 0x0100, 0x00F0, 4000)]        // destination below the source
    [TestCase(1, 0x0500, 0x0500, 700)]         // onto itself
    public void RepMovsMatchesTheElementDefinition(int size, int srcOff, int dstOff, int count)
    {
        var m = PagedMachine();
        var rng = new Random(size * 131 + count);
        var model = new byte[0x8000];
        rng.NextBytes(model);
        m.Bus.DmaWrite(Area, model);
        uint src = Area + (uint)srcOff, dst = Area + (uint)dstOff;
        m.Load(a =>
        {
            a.mov(esi, src); a.mov(edi, dst); a.mov(ecx, count); a.cld();
            a.rep.movsb();
            a.hlt();
        });
        // patch the element size: movsb / movsw / movsd
        PatchMovs(m, size);
        m.Run();
        var element = new byte[size];
        for (int k = 0; k < count; k++)
        {
            Array.Copy(model, srcOff + k * size, element, 0, size);      // each element is read, then written
            Array.Copy(element, 0, model, dstOff + k * size, size);
        }
        var got = new byte[model.Length];
        m.Bus.DmaRead(Area, got);
        Assert.That(got, Is.EqualTo(model));
        Assert.That(m.Cpu.GetRegister(Register32.Ecx), Is.Zero);
        Assert.That(m.Cpu.GetRegister(Register32.Esi), Is.EqualTo(src + (uint)(count * size)));
        Assert.That(m.Cpu.GetRegister(Register32.Edi), Is.EqualTo(dst + (uint)(count * size)));
    }

    private static void PatchMovs(FlatMachine m, int size)
    {
        // F3 A4 (movsb) -> F3 66 A5 / F3 A5: rewrite the string opcode after REP.
        for (uint a = FlatMachine.CodeBase; a < FlatMachine.CodeBase + 32; a++)
            if (m.Bus.Read8(a) == 0xF3 && m.Bus.Read8(a + 1) == 0xA4)
            {
                byte[] code = size switch { 1 => new byte[] { 0xF3, 0xA4, 0xF4 }, 2 => new byte[] { 0x66, 0xF3, 0xA5, 0xF4 }, _ => new byte[] { 0xF3, 0xA5, 0xF4 } };
                m.Bus.DmaWrite(a, code);
                return;
            }
        Assert.Fail("rep movsb not found");
    }

    [TestCase(1, 0x0FF0, 9000u)]
    [TestCase(2, 0x0FFF, 5000u)]
    [TestCase(4, 0x0FFE, 3000u)]
    public void RepStosFillsAcrossPages(int size, int off, uint count)
    {
        var m = PagedMachine();
        uint dst = Area + (uint)off;
        m.Load(a =>
        {
            a.mov(edi, dst); a.mov(ecx, count); a.mov(eax, 0xA1B2_C3D4); a.cld();
            if (size == 1) a.rep.stosb(); else if (size == 2) a.rep.stosw(); else a.rep.stosd();
            a.hlt();
        });
        m.Run();
        for (uint k = 0; k < count * size; k++)
            Assert.That(m.Bus.Read8(dst + k), Is.EqualTo((byte)(0xA1B2_C3D4 >> (int)(8 * (k % (uint)size)))), $"byte {k}");
        Assert.That(m.Bus.Read8(dst + count * (uint)size), Is.Zero, "nothing beyond");
        Assert.That(m.Cpu.GetRegister(Register32.Edi), Is.EqualTo(dst + count * (uint)size));
    }

    [Test]
    public void APageFaultPartWayLeavesARestartableState()
    {
        var m = PagedMachine();
        const uint pt = 0x30_1000;
        m.Write32(pt + 0x105 * 4, 0);                                  // 0x105000 not present
        m.Load(a => { a.mov(__dword_ptr[FlatMachine.DataBase], 14); a.hlt(); }, 0x3000);
        m.SetGate(14, 0x3000);
        m.Load(a =>
        {
            a.mov(esi, 0x20_0000); a.mov(edi, 0x10_3000); a.mov(ecx, 4096); a.cld();
            a.rep.movsd();                                             // 16 KiB into 0x103000..0x106FFF
            a.hlt();
        });
        m.Run();
        Assert.That(m.Read32(FlatMachine.DataBase), Is.EqualTo(14u), "#PF taken");
        Assert.That(m.Cpu.Cr2, Is.EqualTo(0x10_5000u));
        Assert.That(m.Cpu.GetRegister(Register32.Edi), Is.EqualTo(0x10_5000u), "EDI at the first element not done");
        Assert.That(m.Cpu.GetRegister(Register32.Ecx), Is.EqualTo(4096u - 0x2000 / 4), "ECX counts what is left");
        Assert.That(m.Cpu.GetRegister(Register32.Esi), Is.EqualTo(0x20_2000u));
    }

    [Test]
    public void RepStosOverTheFollowingCodeIsSeen()
    {
        var m = new FlatMachine();
        m.Load(a =>
        {
            var patch = a.CreateLabel();
            a.xor(eax, eax);
            a.mov(edi, FlatMachine.CodeBase + 0x20);
            a.mov(ecx, 5);
            a.mov(al, 0x90);                                           // NOP
            a.rep.stosb();
            a.jmp(FlatMachine.CodeBase + 0x20);
        });
        m.Load(a => { a.mov(ebx, 0x1234); a.hlt(); }, FlatMachine.CodeBase + 0x20);   // 5 bytes, then HLT
        m.Cpu.SetRegister(Register32.Ebx, 0);
        m.Run();
        Assert.That(m.Cpu.GetRegister(Register32.Ebx), Is.Zero, "the MOV was overwritten by NOPs");
    }
}
