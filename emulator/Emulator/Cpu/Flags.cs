using System.Numerics;
using System.Runtime.CompilerServices;

namespace Emulator.Cpu;

/// <summary>
/// EFLAGS with lazily evaluated arithmetic flags. An arithmetic instruction stores its result (sign-extended
/// to 32 bits) in <see cref="ccRes"/> and its carry-out vector, folded to three bits, in <see cref="ccAux"/>:
/// bit 31 = carry out of the top bit (CF), bit 30 = carry out of the bit below it (OF = bit31 ^ bit30),
/// bit 3 = carry out of bit 3 (AF). ZF, SF and PF are read from the result. Two correction fields let any
/// flag combination be represented (after POPF or SAHF): bit 0 flips SF, bits 8..15 are XORed into the low
/// byte of the result before its parity is taken. No flag is computed until an instruction reads it.
/// </summary>
public sealed unsafe partial class X86Cpu
{
    // EFLAGS bits (SDM Vol. 1, 3.4.3).
    internal const uint FlagCF = 1, FlagPF = 4, FlagAF = 0x10, FlagZF = 0x40, FlagSF = 0x80, FlagTF = 0x100,
        FlagIF = 0x200, FlagDF = 0x400, FlagOF = 0x800, FlagIOPL = 0x3000, FlagNT = 0x4000, FlagRF = 0x10000,
        FlagVM = 0x20000, FlagAC = 0x40000, FlagVIF = 0x80000, FlagVIP = 0x100000, FlagID = 0x200000;
    internal const uint ArithFlags = FlagCF | FlagPF | FlagAF | FlagZF | FlagSF | FlagOF;

    /// <summary>EFLAGS without the six arithmetic flags (bit 1 always set).</summary>
    internal uint flagsRest;
    internal uint ccRes, ccAux;

    internal uint CFv { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => ccAux >> 31; }
    internal uint OFv { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => (ccAux ^ (ccAux << 1)) >> 31; }
    internal uint AFv { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => (ccAux >> 3) & 1; }
    internal bool ZFb { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => ccRes == 0; }
    internal uint SFv { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => (ccRes >> 31) ^ (ccAux & 1); }
    internal uint PFv
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (uint)~BitOperations.PopCount((ccRes ^ (ccAux >> 8)) & 0xFF) & 1;
    }

    internal uint ArithFlagsValue =>
        CFv | PFv << 2 | AFv << 4 | (ZFb ? FlagZF : 0) | SFv << 7 | OFv << 11;

    internal uint GetEflags() => flagsRest | ArithFlagsValue;

    /// <summary>Represents the six arithmetic flags of <paramref name="f"/> in the lazy fields.</summary>
    internal void SetArithFlags(uint f)
    {
        uint zf = (f >> 6) & 1;
        ccRes = zf ^ 1;                               // 0 when ZF, else 1 (SF 0, odd parity)
        uint pdb = ((f >> 2) & 1) ^ zf;               // flips the parity to PF
        uint cf = f & 1, of = (f >> 11) & 1;
        ccAux = cf << 31 | (cf ^ of) << 30 | (f & FlagAF) >> 1 | pdb << 8 | (f >> 7) & 1;
    }

    /// <summary>Loads EFLAGS without privilege checks (reserved bits forced; VM86 is not implemented).</summary>
    internal void SetEflagsRaw(uint value)
    {
        uint before = flagsRest;
        flagsRest = (value & (FlagTF | FlagIF | FlagDF | FlagIOPL | FlagNT | FlagRF | FlagAC | FlagID)) | 2;
        SetArithFlags(value);
        if (((before ^ flagsRest) & FlagAC) != 0) UpdateTlbPointers();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetCF(uint cf)
    {
        uint of = OFv;
        ccAux = (ccAux & 0x3FFF_FFFF) | cf << 31 | (cf ^ of) << 30;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetCFOF(uint cf, uint of) => ccAux = (ccAux & 0x3FFF_FFFF) | cf << 31 | (cf ^ of) << 30;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint SignExtend<W>(uint v) where W : IWidth
        => (uint)((int)(v << (32 - W.Bits)) >> (32 - W.Bits));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void FlagsAdd<W>(uint a, uint b, uint r) where W : IWidth
    {
        ccRes = SignExtend<W>(r);
        uint co = (a & b) | ((a | b) & ~r);
        ccAux = ((co << (32 - W.Bits)) & 0xC000_0000) | (co & 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void FlagsSub<W>(uint a, uint b, uint r) where W : IWidth
    {
        ccRes = SignExtend<W>(r);
        uint bo = (~a & b) | (~(a ^ b) & r);
        ccAux = ((bo << (32 - W.Bits)) & 0xC000_0000) | (bo & 8);
    }

    /// <summary>AND, OR, XOR, TEST: CF = OF = 0; AF is undefined and left 0 as on Intel parts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void FlagsLogic<W>(uint r) where W : IWidth
    {
        ccRes = SignExtend<W>(r);
        ccAux = 0;
    }

    /// <summary>INC and DEC: like ADD/SUB of 1 but CF is kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void FlagsIncDec<W>(uint a, uint r, bool dec) where W : IWidth
    {
        uint cf = ccAux >> 31;
        uint v = dec ? (~a & 1) | (~(a ^ 1) & r) : (a & 1) | ((a | 1) & ~r);
        uint top = (v << (32 - W.Bits)) & 0xC000_0000;
        uint of = (top ^ (top << 1)) >> 31;
        ccRes = SignExtend<W>(r);
        ccAux = cf << 31 | (cf ^ of) << 30 | (v & 8);
    }

    /// <summary>Flags given explicitly (shifts, multiplies, BCD): result for ZF/SF/PF, and CF, OF, AF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void FlagsExplicit<W>(uint r, uint cf, uint of, uint af) where W : IWidth
    {
        ccRes = SignExtend<W>(r);
        ccAux = cf << 31 | (cf ^ of) << 30 | af << 3;
    }

    // ---- conditions (Jcc, SETcc, CMOVcc; SDM Vol. 1, B.1) ---------------------------------------------

    internal bool Condition(int cc)
    {
        bool t = (cc >> 1) switch
        {
            0 => OFv != 0,
            1 => CFv != 0,
            2 => ZFb,
            3 => CFv != 0 || ZFb,
            4 => SFv != 0,
            5 => PFv != 0,
            6 => SFv != OFv,
            _ => ZFb || SFv != OFv,
        };
        return t ^ ((cc & 1) != 0);
    }
}

/// <summary>A condition code as a type, so Jcc/SETcc/CMOVcc handlers are specialised per condition.</summary>
internal interface ICond { static abstract bool Test(X86Cpu c); }
internal struct CondO : ICond { public static bool Test(X86Cpu c) => c.OFv != 0; }
internal struct CondB : ICond { public static bool Test(X86Cpu c) => c.CFv != 0; }
internal struct CondZ : ICond { public static bool Test(X86Cpu c) => c.ZFb; }
internal struct CondBE : ICond { public static bool Test(X86Cpu c) => c.CFv != 0 || c.ZFb; }
internal struct CondS : ICond { public static bool Test(X86Cpu c) => c.SFv != 0; }
internal struct CondP : ICond { public static bool Test(X86Cpu c) => c.PFv != 0; }
internal struct CondL : ICond { public static bool Test(X86Cpu c) => c.SFv != c.OFv; }
internal struct CondLE : ICond { public static bool Test(X86Cpu c) => c.ZFb || c.SFv != c.OFv; }
internal struct Not<T> : ICond where T : ICond { public static bool Test(X86Cpu c) => !T.Test(c); }
