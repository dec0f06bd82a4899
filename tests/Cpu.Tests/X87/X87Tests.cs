using Cpu.Tests.Support;
using Emulator.Cpu.Fpu;
using Iced.Intel;
using NUnit.Framework;
using static Iced.Intel.AssemblerRegisters;

namespace Cpu.Tests.X87;

/// <summary>
/// x87 results and status against known values: correctly rounded extended results (1/3, sqrt 2), the
/// load-constant instructions under each rounding mode, precision control, integer and BCD conversions,
/// comparisons (FCOM condition codes, FCOMI EFLAGS), FXAM classes, stack overflow and underflow, FSAVE/FRSTOR,
/// FSTENV's layout, and unmasked exceptions reported as #MF or on FERR# by CR0.NE. The expected encodings are
/// those of the IEEE formats (derived from the exact values), not outputs of this implementation.
/// </summary>
public class X87Tests
{
    private const uint D = FlatMachine.DataBase;

    private static FlatMachine Run(Action<Assembler> body)
    {
        var m = new FlatMachine();
        m.Load(a => { a.fninit(); body(a); a.hlt(); });
        m.Run();
        return m;
    }

    private static void AssertSt(FlatMachine m, int i, ushort se, ulong mant)
    {
        var v = m.Cpu.X87.ST(i);
        Assert.That(v.SignExponent, Is.EqualTo(se), $"ST({i}) sign/exponent of {v}");
        Assert.That(v.Mantissa, Is.EqualTo(mant), $"ST({i}) significand of {v}");
    }

    private static int Flags(FlatMachine m) => m.Cpu.X87.StatusWord & 0x7F;
    private static int C1(FlatMachine m) => (m.Cpu.X87.StatusWord >> 9) & 1;

    [Test]
    public void OneThirdIsCorrectlyRoundedAndReportsRoundingUp()
    {
        // 1/3 = 0.0101...b: the 64-bit significand AAAA...AAA|AA... rounds up to ...AB.
        var m = Run(a => { a.fld1(); a.mov(__dword_ptr[D], 3); a.fidiv(__dword_ptr[D]); });
        AssertSt(m, 0, 0x3FFD, 0xAAAA_AAAA_AAAA_AAAB);
        Assert.That(Flags(m), Is.EqualTo(FpuFlags.PE));
        Assert.That(C1(m), Is.EqualTo(1));
    }

    [Test]
    public void SquareRootOfTwoIsCorrectlyRounded()
    {
        // sqrt(2) = 1.0110 1010 0000 1001 1110 0110 0110 0111 1111 0011 1011 1100 1100 1001 0000 1000 1011 0010...b
        var m = Run(a => { a.mov(__dword_ptr[D], 2); a.fild(__dword_ptr[D]); a.fsqrt(); });
        AssertSt(m, 0, 0x3FFF, 0xB504_F333_F9DE_6484);
        Assert.That(C1(m), Is.EqualTo(0));
    }

    [TestCase(0x037F, 0xC90F_DAA2_2168_C235UL)]   // nearest: pi = C90FDAA2 2168C234 C4C6...
    [TestCase(0x077F, 0xC90F_DAA2_2168_C234UL)]   // down
    [TestCase(0x0B7F, 0xC90F_DAA2_2168_C235UL)]   // up
    [TestCase(0x0F7F, 0xC90F_DAA2_2168_C234UL)]   // toward zero
    public void FldpiIsRoundedByTheRoundingControl(int cw, ulong mantissa)
    {
        var m = Run(a => { a.mov(__word_ptr[D], cw); a.fldcw(__word_ptr[D]); a.fldpi(); });
        AssertSt(m, 0, 0x4000, mantissa);
    }

    [Test]
    public void LoadConstantsHaveTheirExactValues()
    {
        var m = Run(a => { a.fldz(); a.fld1(); a.fldl2t(); a.fldl2e(); a.fldlg2(); a.fldln2(); });
        AssertSt(m, 0, 0x3FFE, 0xB172_17F7_D1CF_79AC);   // ln 2
        AssertSt(m, 1, 0x3FFD, 0x9A20_9A84_FBCF_F799);   // log10 2
        AssertSt(m, 2, 0x3FFF, 0xB8AA_3B29_5C17_F0BC);   // log2 e
        AssertSt(m, 3, 0x4000, 0xD49A_784B_CD1B_8AFE);   // log2 10
        AssertSt(m, 4, 0x3FFF, 0x8000_0000_0000_0000);   // 1
        AssertSt(m, 5, 0x0000, 0);                       // +0
    }

    [Test]
    public void PrecisionControlRoundsToSingleAndDouble()
    {
        // PC = 00 (24 bits): 1/3 = AAAAAB << 40; PC = 10 (53 bits): AAAAAAAAAAAAA800.
        var m = Run(a =>
        {
            a.mov(__word_ptr[D], 0x007F); a.fldcw(__word_ptr[D]);
            a.fld1(); a.mov(__dword_ptr[D + 4], 3); a.fidiv(__dword_ptr[D + 4]);
            a.mov(__word_ptr[D], 0x027F); a.fldcw(__word_ptr[D]);
            a.fld1(); a.fidiv(__dword_ptr[D + 4]);
        });
        AssertSt(m, 1, 0x3FFD, 0xAAAA_AB00_0000_0000);
        AssertSt(m, 0, 0x3FFD, 0xAAAA_AAAA_AAAA_A800);
    }

    [TestCase(0x037F, 2, 4, -2)]     // nearest even: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2
    [TestCase(0x077F, 2, 3, -3)]     // down
    [TestCase(0x0B7F, 3, 4, -2)]     // up
    [TestCase(0x0F7F, 2, 3, -2)]     // toward zero
    public void IntegerStoresRoundByTheRoundingControl(int cw, int r25, int r35, int rm25)
    {
        var m = Run(a =>
        {
            a.mov(__word_ptr[D], cw); a.fldcw(__word_ptr[D]);
            a.mov(__dword_ptr[D + 4], 0x4020_0000); a.fld(__dword_ptr[D + 4]); a.fistp(__dword_ptr[D + 16]);   // 2.5f
            a.mov(__dword_ptr[D + 4], 0x4060_0000); a.fld(__dword_ptr[D + 4]); a.fistp(__dword_ptr[D + 20]);   // 3.5f
            a.mov(__dword_ptr[D + 4], 0xC020_0000); a.fld(__dword_ptr[D + 4]); a.fistp(__dword_ptr[D + 24]);   // -2.5f
        });
        Assert.That((int)m.Read32(D + 16), Is.EqualTo(r25));
        Assert.That((int)m.Read32(D + 20), Is.EqualTo(r35));
        Assert.That((int)m.Read32(D + 24), Is.EqualTo(rm25));
    }

    [Test]
    public void OutOfRangeIntegerStoreGivesTheIndefiniteAndIE()
    {
        var m = Run(a =>
        {
            a.mov(__dword_ptr[D], 0x6161_2CBF);     // 1e20f
            a.fld(__dword_ptr[D]);
            a.fist(__dword_ptr[D + 8]);
            a.fistp(__word_ptr[D + 12]);
        });
        Assert.That(m.Read32(D + 8), Is.EqualTo(0x8000_0000u));
        Assert.That(m.Bus.Read16(D + 12), Is.EqualTo(0x8000));
        Assert.That(Flags(m) & FpuFlags.IE, Is.EqualTo(FpuFlags.IE));
    }

    [Test]
    public void FloatStoresRoundToTheirFormat()
    {
        var m = Run(a =>
        {
            a.fld1(); a.mov(__dword_ptr[D], 3); a.fidiv(__dword_ptr[D]);
            a.fst(__dword_ptr[D + 8]);              // 1/3f = 0x3EAAAAAB
            a.fstp(__qword_ptr[D + 16]);            // 1/3 = 0x3FD5555555555555
        });
        Assert.That(m.Read32(D + 8), Is.EqualTo(0x3EAA_AAABu));
        Assert.That(m.Read64(D + 16), Is.EqualTo(0x3FD5_5555_5555_5555UL));
    }

    [Test]
    public void BcdRoundTrip()
    {
        var m2 = new FlatMachine();
        byte[] bcd = { 0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80 };   // -123456789012345678
        m2.Bus.Load(D, bcd);
        m2.Load(a => { a.fninit(); a.fbld(__tword_ptr[D]); a.fld(st0); a.fbstp(__tword_ptr[D + 16]); a.fistp(__qword_ptr[D + 32]); a.hlt(); });
        m2.Run();
        for (int k = 0; k < 10; k++) Assert.That(m2.Bus.Read8(D + 16 + (uint)k), Is.EqualTo(bcd[k]), $"byte {k}");
        Assert.That((long)m2.Read64(D + 32), Is.EqualTo(-123456789012345678L));
    }

    [TestCase(1, 2, 0x0100)]    // 1 < 2: C0
    [TestCase(2, 1, 0x0000)]    // greater: none
    [TestCase(2, 2, 0x4000)]    // equal: C3
    public void FcomSetsConditionCodes(int x, int y, int cc)
    {
        var m = Run(a =>
        {
            a.mov(__dword_ptr[D], y); a.fild(__dword_ptr[D]);
            a.mov(__dword_ptr[D], x); a.fild(__dword_ptr[D]);
            a.fcom(st0, st1);
        });
        Assert.That(m.Cpu.X87.StatusWord & 0x4700, Is.EqualTo(cc));
    }

    [Test]
    public void FcomiSetsEflagsAndUnorderedSetsAllThree()
    {
        var m = Run(a =>
        {
            a.fld1(); a.fldz();                      // ST0 = 0, ST1 = 1
            a.fcomi(st0, st1);
            a.pushfd(); a.pop(eax); a.mov(__dword_ptr[D], eax);
            a.fstp(st0);
            a.mov(__dword_ptr[D + 8], 0xFFC0_0000);  // QNaN
            a.fld(__dword_ptr[D + 8]);
            a.fucomi(st0, st1);
            a.pushfd(); a.pop(eax); a.mov(__dword_ptr[D + 4], eax);
        });
        Assert.That(m.Read32(D) & 0x8D5, Is.EqualTo(0x01u), "0 < 1: CF");
        Assert.That(m.Read32(D + 4) & 0x8D5, Is.EqualTo(0x45u), "unordered: ZF PF CF");
        Assert.That(Flags(m) & FpuFlags.IE, Is.Zero, "FUCOMI does not raise IE for a QNaN");
    }

    [Test]
    public void FxamClassifiesValues()
    {
        // C3 C2 C0: zero 100, normal 010, infinity 011, NaN 001, empty 101, denormal 110; C1 = sign.
        (string name, Action<Assembler> load, int expected)[] cases =
        {
            ("zero", a => a.fldz(), 0x4000),
            ("-normal", a => { a.fld1(); a.fchs(); }, 0x0400 | 0x0200),
            ("infinity", a => { a.mov(__dword_ptr[D], 0x7F80_0000); a.fld(__dword_ptr[D]); }, 0x0500),
            ("NaN", a => { a.mov(__dword_ptr[D], 0x7FC0_0000); a.fld(__dword_ptr[D]); }, 0x0100),
            ("denormal", a => { a.mov(__dword_ptr[D], 0); a.mov(__dword_ptr[D + 4], 1); a.mov(__word_ptr[D + 8], 0); a.fld(__tword_ptr[D]); }, 0x4400),
        };
        foreach (var (name, load, expected) in cases)
        {
            var m = Run(a => { load(a); a.fxam(); });
            Assert.That(m.Cpu.X87.StatusWord & 0x4700, Is.EqualTo(expected), name);
        }
        var e = Run(a => a.fxam());
        Assert.That(e.Cpu.X87.StatusWord & 0x4500, Is.EqualTo(0x4100), "empty");
    }

    [Test]
    public void TranscendentalFunctionsGiveKnownValues()
    {
        var m = Run(a =>
        {
            a.mov(__dword_ptr[D], 8); a.fild(__dword_ptr[D]); a.fld1(); a.fxch(st0, st1); a.fyl2x();   // 1 * log2 8 = 3
            a.fld1(); a.f2xm1();                                                                   // 2^1 - 1 = 1
            a.fldz(); a.fptan();                                                                   // tan 0 = 0, then 1.0 pushed
            a.fld1(); a.fld1(); a.fpatan();                                                        // atan(1/1) = pi/4
            a.fldz(); a.fcos();                                                                    // cos 0 = 1
        });
        AssertSt(m, 0, 0x3FFF, 0x8000_0000_0000_0000);       // cos 0
        Assert.That(SoftFloat.ToDoubleApprox(m.Cpu.X87.ST(1)), Is.EqualTo(Math.PI / 4).Within(1e-15));
        AssertSt(m, 2, 0x3FFF, 0x8000_0000_0000_0000);       // FPTAN's 1.0
        AssertSt(m, 3, 0x0000, 0);                           // tan 0 = +0
        AssertSt(m, 4, 0x3FFF, 0x8000_0000_0000_0000);       // 2^1 - 1
        AssertSt(m, 5, 0x4000, 0xC000_0000_0000_0000);       // 3
    }

    [Test]
    public void TrigonometryOutsideTwoToThe63SetsC2AndLeavesTheOperand()
    {
        var m = Run(a =>
        {
            a.mov(__dword_ptr[D], 0x5F80_0000);              // 2^64 as a float
            a.fld(__dword_ptr[D]);
            a.fsin();
        });
        Assert.That(m.Cpu.X87.StatusWord & 0x0400, Is.EqualTo(0x0400), "C2: operand out of range");
        AssertSt(m, 0, 0x403F, 0x8000_0000_0000_0000);
    }

    [Test]
    public void StackOverflowPushesTheIndefiniteAndSetsC1()
    {
        var m = Run(a => { for (int k = 0; k < 9; k++) a.fld1(); });
        Assert.That(Flags(m), Is.EqualTo(FpuFlags.IE | FpuFlags.SF));
        Assert.That(C1(m), Is.EqualTo(1), "C1 = 1: overflow");
        AssertSt(m, 0, 0xFFFF, 0xC000_0000_0000_0000);
    }

    [Test]
    public void StackUnderflowGivesTheIndefiniteAndClearsC1()
    {
        var m = Run(a => { a.fld1(); a.fadd(st0, st1); });
        Assert.That(Flags(m), Is.EqualTo(FpuFlags.IE | FpuFlags.SF));
        Assert.That(C1(m), Is.Zero, "C1 = 0: underflow");
        AssertSt(m, 0, 0xFFFF, 0xC000_0000_0000_0000);
    }

    [Test]
    public void MaskedZeroDivideGivesInfinity()
    {
        var m = Run(a => { a.fld1(); a.fldz(); a.fdivp(st1, st0); });
        AssertSt(m, 0, 0x7FFF, 0x8000_0000_0000_0000);
        Assert.That(Flags(m), Is.EqualTo(FpuFlags.ZE));
    }

    [Test]
    public void FsaveStoresTheStateAndReinitialisesAndFrstorBringsItBack()
    {
        var m = Run(a =>
        {
            a.fld1(); a.fldpi();
            a.mov(__word_ptr[D], 0x0B7F); a.fldcw(__word_ptr[D]);
            a.fnsave(__[D + 0x100]);
            a.fnstcw(__word_ptr[D + 4]);            // after FNSAVE: FNINIT state
            a.frstor(__[D + 0x100]);
        });
        uint save = D + 0x100;
        Assert.That(m.Bus.Read16(save), Is.EqualTo(0x0B7F), "FCW in the image");
        Assert.That((m.Bus.Read16(save + 4) >> 11) & 7, Is.EqualTo(6), "TOP in the image");
        Assert.That(m.Bus.Read16(save + 8), Is.EqualTo(0x0FFF), "tags: ST0, ST1 valid (physical 6, 7), others empty");
        Assert.That(m.Bus.Read16(save + 28 + 8), Is.EqualTo(0x4000), "ST0 = pi in the register area");
        Assert.That(m.Read64(save + 28), Is.EqualTo(0xC90F_DAA2_2168_C235UL));
        Assert.That(m.Bus.Read16(D + 4), Is.EqualTo(0x037F), "FNSAVE reinitialises");
        Assert.That(m.Cpu.X87.ControlWord, Is.EqualTo(0x0B7F), "FRSTOR restores");
        AssertSt(m, 0, 0x4000, 0xC90F_DAA2_2168_C235);
        AssertSt(m, 1, 0x3FFF, 0x8000_0000_0000_0000);
    }

    [Test]
    public void FstenvRecordsTheLastInstructionAndOperand()
    {
        var m = new FlatMachine();
        m.Load(a =>
        {
            a.fninit();
            a.fld(__dword_ptr[D]);                  // at CodeBase + 2
            a.fnstenv(__[D + 0x40]);
            a.hlt();
        });
        m.Run();
        uint env = D + 0x40;
        Assert.That(m.Read32(env + 12), Is.EqualTo(FlatMachine.CodeBase + 2), "FIP");
        Assert.That(m.Read32(env + 16) & 0xFFFF, Is.EqualTo(0x08u), "FCS");
        Assert.That((m.Read32(env + 16) >> 16) & 0x7FF, Is.EqualTo(0x105u), "FOP: D9 05 -> 1 05");
        Assert.That(m.Read32(env + 20), Is.EqualTo(D), "FDP");
        Assert.That(m.Read32(env + 24) & 0xFFFF, Is.EqualTo(0x10u), "FDS");
        Assert.That(m.Cpu.X87.ControlWord & 0x3F, Is.EqualTo(0x3F), "FSTENV masks all exceptions");
    }

    [Test]
    public void UnmaskedExceptionIsReportedAsMfWithCr0Ne()
    {
        var m = new FlatMachine();
        // IDT vector 16 -> a handler (at 0x3000) that records and halts.
        m.Load(a =>
        {
            a.fninit();
            a.mov(__word_ptr[D], 0x037B); a.fldcw(__word_ptr[D]);   // unmask ZE
            a.fld1(); a.fldz(); a.fdivp(st1, st0);
            a.mov(__dword_ptr[D + 4], 1);                         // runs: the exception is only pending
            a.wait();                                             // #MF here
            a.mov(__dword_ptr[D + 8], 1);
            a.hlt();
        });
        m.Load(a => { a.mov(__dword_ptr[D + 12], 16); a.hlt(); }, 0x3000);
        SetIdt(m, 16, 0x3000);
        m.Cpu.Cr0 |= 0x20;                                        // NE
        m.Run();
        Assert.That(m.Read32(D + 4), Is.EqualTo(1u));
        Assert.That(m.Read32(D + 8), Is.Zero, "the FWAIT faulted");
        Assert.That(m.Read32(D + 12), Is.EqualTo(16u), "#MF delivered");
    }

    [Test]
    public void UnmaskedExceptionAssertsFerrWithoutCr0Ne()
    {
        var m = new FlatMachine();
        var levels = new List<bool>();
        m.Cpu.FpuErrorLine = levels.Add;
        m.Load(a =>
        {
            a.fninit();
            a.mov(__word_ptr[D], 0x037B); a.fldcw(__word_ptr[D]);
            a.fld1(); a.fldz(); a.fdivp(st1, st0);
            a.wait();                                            // FERR#: IRQ 13 on a PC; execution goes on
            a.mov(__dword_ptr[D + 8], 1);
            a.fnclex();
            a.hlt();
        });
        m.Run();
        Assert.That(m.Read32(D + 8), Is.EqualTo(1u));
        Assert.That(levels, Is.EqualTo(new[] { true, false }), "asserted at FWAIT, released by FNCLEX");
    }

    private static void SetIdt(FlatMachine m, int vector, uint handler)
    {
        const uint idt = 0x200000;
        uint e = idt + (uint)vector * 8;
        m.Write32(e, (handler & 0xFFFF) | 0x08u << 16);
        m.Write32(e + 4, (handler & 0xFFFF_0000) | 0x8E00);
        m.Cpu.SetIdtr(idt, 0x7FF);
    }
}
