using System.Numerics;
using System.Runtime.InteropServices;

namespace Emulator.Cpu.Fpu;

/// <summary>An x87 register value: 64-bit significand with explicit integer bit, 15-bit exponent, sign
/// (SDM Vol. 1, 4.2.2 and 8.2).</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct Float80 : IEquatable<Float80>
{
    public readonly ulong Mantissa;
    public readonly ushort SignExponent;

    public Float80(ushort signExponent, ulong mantissa) { SignExponent = signExponent; Mantissa = mantissa; }

    public bool Sign => (SignExponent & 0x8000) != 0;
    public int Exponent => SignExponent & 0x7FFF;
    public bool IsNaN => Exponent == 0x7FFF && (Mantissa << 1) != 0;
    public bool IsSignalingNaN => IsNaN && (Mantissa & (1UL << 62)) == 0;
    public bool IsInfinity => Exponent == 0x7FFF && (Mantissa << 1) == 0;
    public bool IsZero => Exponent == 0 && Mantissa == 0;
    public bool IsDenormal => Exponent == 0 && Mantissa != 0;
    /// <summary>Unnormals, pseudo-NaNs and pseudo-infinities: invalid operands on the 387 and later.</summary>
    public bool IsUnsupported => Exponent != 0 && (Mantissa & (1UL << 63)) == 0;

    public Float80 Negate() => new((ushort)(SignExponent ^ 0x8000), Mantissa);
    public Float80 Abs() => new((ushort)(SignExponent & 0x7FFF), Mantissa);
    public Float80 WithSign(bool negative) => new((ushort)((SignExponent & 0x7FFF) | (negative ? 0x8000 : 0)), Mantissa);

    public static readonly Float80 Zero = new(0, 0);
    public static readonly Float80 One = new(0x3FFF, 1UL << 63);
    /// <summary>The QNaN "real indefinite" produced by masked invalid operations.</summary>
    public static readonly Float80 Indefinite = new(0xFFFF, 0xC000_0000_0000_0000);
    public static Float80 Infinity(bool negative) => new((ushort)(negative ? 0xFFFF : 0x7FFF), 1UL << 63);

    public bool Equals(Float80 o) => o.Mantissa == Mantissa && o.SignExponent == SignExponent;
    public override bool Equals(object? obj) => obj is Float80 f && Equals(f);
    public override int GetHashCode() => HashCode.Combine(Mantissa, SignExponent);
    public override string ToString() => $"{SignExponent:X4}:{Mantissa:X16} ({SoftFloat.ToDoubleApprox(this):R})";
}

/// <summary>x87 exception flags as they appear in the status word, plus C1 (rounded up).</summary>
internal static class FpuFlags
{
    public const int IE = 1, DE = 2, ZE = 4, OE = 8, UE = 0x10, PE = 0x20, SF = 0x40, C1 = 0x200;
}

/// <summary>
/// Exact IEEE-754 arithmetic on the 80-bit extended format with the x87's rounding control (nearest-even,
/// down, up, toward zero) and precision control (24, 53, 64 bits): add, subtract, multiply, divide, square
/// root, round to integer, remainder, scale, conversions to and from single, double, integers and BCD. Results
/// are correctly rounded, as on the hardware; operands are unpacked into a sign, an unbiased exponent and a
/// 128-bit significand with the integer bit at bit 127, so every intermediate is exact before one rounding.
/// </summary>
internal static class SoftFloat
{
    public const int RcNearest = 0, RcDown = 1, RcUp = 2, RcZero = 3;
    private const int Bias = 16383;

    internal enum Kind { Zero, Normal, Infinity, NaN, Unsupported }

    /// <summary>Unpacks a value: for normal and denormal numbers <paramref name="sig"/> is normalised
    /// (bit 127 set) and value = sig * 2^(e - 127). Denormal operands set DE.</summary>
    internal static Kind Unpack(Float80 v, out bool sign, out int e, out UInt128 sig, ref int flags)
    {
        sign = v.Sign;
        int ex = v.Exponent;
        ulong m = v.Mantissa;
        e = 0; sig = 0;
        if (ex == 0x7FFF)
        {
            if ((m & (1UL << 63)) == 0) return Kind.Unsupported;
            return (m << 1) == 0 ? Kind.Infinity : Kind.NaN;
        }
        if (ex == 0)
        {
            if (m == 0) return Kind.Zero;
            flags |= FpuFlags.DE;
            int lz = BitOperations.LeadingZeroCount(m);
            sig = (UInt128)(m << lz) << 64;
            e = 1 - Bias - lz;
            return Kind.Normal;
        }
        if ((m & (1UL << 63)) == 0) return Kind.Unsupported;
        sig = (UInt128)m << 64;
        e = ex - Bias;
        return Kind.Normal;
    }

    /// <summary>Rounds sign * sig * 2^(e-127) to <paramref name="precision"/> bits with exponents in
    /// [emin, emax] (denormalising below emin). Returns false on overflow (the caller picks infinity or the
    /// largest finite value). Sets PE, UE, C1.</summary>
    internal static bool Round(bool sign, ref int e, ref UInt128 sig, int precision, int emin, int emax, int rc, ref int flags)
    {
        if (sig == 0) return true;
        // Normalise.
        int lead = 127 - LeadingZeros(sig);
        if (lead < 127) { sig <<= 127 - lead; e -= 127 - lead; }
        bool tiny = false;
        if (e < emin)
        {
            tiny = true;
            int shift = emin - e;
            sig = ShiftRightJam(sig, shift);
            e = emin;
        }
        int drop = 128 - precision;
        UInt128 dropMask = (UInt128.One << drop) - 1;
        UInt128 rest = sig & dropMask;
        bool inexact = rest != 0;
        bool up = false;
        if (inexact)
        {
            UInt128 half = UInt128.One << (drop - 1);
            up = rc switch
            {
                RcNearest => rest > half || (rest == half && ((sig >> drop) & 1) != 0),
                RcDown => sign,
                RcUp => !sign,
                _ => false,
            };
        }
        sig &= ~dropMask;
        if (up)
        {
            UInt128 before = sig;
            sig += UInt128.One << drop;
            if (sig < before)                  // carried out of bit 127
            {
                sig = UInt128.One << 127;
                e++;
            }
            flags |= FpuFlags.C1;
        }
        if (inexact)
        {
            flags |= FpuFlags.PE;
            if (tiny) flags |= FpuFlags.UE;
        }
        if (e > emax)
        {
            flags |= FpuFlags.OE | FpuFlags.PE;
            return false;
        }
        return true;
    }

    internal static int LeadingZeros(UInt128 v)
    {
        ulong hi = (ulong)(v >> 64);
        return hi != 0 ? BitOperations.LeadingZeroCount(hi) : 64 + BitOperations.LeadingZeroCount((ulong)v);
    }

    internal static UInt128 ShiftRightJam(UInt128 v, int n)
    {
        if (n <= 0) return v;
        if (n >= 128) return v != 0 ? UInt128.One : UInt128.Zero;
        UInt128 lost = v & ((UInt128.One << n) - 1);
        return (v >> n) | (lost != 0 ? UInt128.One : UInt128.Zero);
    }

    private static int PrecisionBits(int pc) => pc switch { 0 => 24, 2 => 53, _ => 64 };

    /// <summary>The value for an overflow under the rounding mode: infinity or the largest finite number.</summary>
    private static bool OverflowToInfinity(bool sign, int rc) => rc switch
    {
        RcNearest => true,
        RcZero => false,
        RcDown => sign,
        _ => !sign,
    };

    /// <summary>Packs a rounded extended-format result. With <paramref name="wrapOnRange"/> (unmasked OE/UE)
    /// an out-of-range exponent is adjusted by 24576 instead (SDM Vol. 1, 8.5.4-8.5.5).</summary>
    internal static Float80 PackRound(bool sign, int e, UInt128 sig, int pc, int rc, ref int flags, bool unmaskedOverflow, bool unmaskedUnderflow)
    {
        if (sig == 0) return new Float80((ushort)(sign ? 0x8000 : 0), 0);
        int precision = PrecisionBits(pc);
        int e0 = e; UInt128 s0 = sig;
        int f0 = flags;
        if (!Round(sign, ref e, ref sig, precision, 1 - Bias, Bias, rc, ref flags))
        {
            if (unmaskedOverflow)
            {
                e = e0; sig = s0; flags = f0 | FpuFlags.OE;
                Round(sign, ref e, ref sig, precision, int.MinValue / 2, int.MaxValue / 2, rc, ref flags);
                return Pack(sign, e - 24576, sig);
            }
            if (OverflowToInfinity(sign, rc)) { flags |= FpuFlags.C1; return Float80.Infinity(sign); }
            flags &= ~FpuFlags.C1;
            return LargestFinite(sign, precision);
        }
        if (unmaskedUnderflow && e0 - LeadingZeros(s0) < 1 - Bias)
        {
            e = e0; sig = s0; flags = f0 | FpuFlags.UE;
            Round(sign, ref e, ref sig, precision, int.MinValue / 2, int.MaxValue / 2, rc, ref flags);
            return Pack(sign, e + 24576, sig);
        }
        return Pack(sign, e, sig);
    }

    private static Float80 LargestFinite(bool sign, int precision)
    {
        ulong m = precision == 64 ? ulong.MaxValue : ~((1UL << (64 - precision)) - 1);
        return new Float80((ushort)((sign ? 0x8000 : 0) | 0x7FFE), m);
    }

    /// <summary>Packs a rounded significand (bit 127 set for normal numbers; clear after denormalising).</summary>
    internal static Float80 Pack(bool sign, int e, UInt128 sig)
    {
        ulong m = (ulong)(sig >> 64);
        int ex = (m & (1UL << 63)) != 0 ? e + Bias : 0;
        if (ex >= 0x7FFF) return Float80.Infinity(sign);
        if (ex < 0) ex = 0;
        return new Float80((ushort)((sign ? 0x8000 : 0) | ex), m);
    }

    // ---- NaN handling (SDM Vol. 1, 4.8.3.5 and Table 4-7) ------------------------------------------------

    internal static Float80 Quiet(Float80 v) => new(v.SignExponent, v.Mantissa | (1UL << 62));

    /// <summary>Result for an operation with at least one NaN operand: the NaN with the larger significand,
    /// quieted; IE when either is signaling.</summary>
    internal static Float80 PropagateNaN(Float80 a, Float80 b, ref int flags)
    {
        if (a.IsSignalingNaN || b.IsSignalingNaN) flags |= FpuFlags.IE;
        if (a.IsNaN && b.IsNaN)
        {
            // A QNaN wins over an SNaN; between two of a kind the larger significand wins.
            if (a.IsSignalingNaN != b.IsSignalingNaN) return Quiet(a.IsSignalingNaN ? b : a);
            if (a.Mantissa != b.Mantissa) return Quiet(a.Mantissa > b.Mantissa ? a : b);
            return Quiet(a.Sign ? b : a);
        }
        return Quiet(a.IsNaN ? a : b);
    }

    private static Float80 Invalid(ref int flags)
    {
        flags |= FpuFlags.IE;
        return Float80.Indefinite;
    }

    /// <summary>Invalid operation: IE, and no DE (a higher-priority exception, SDM Vol. 1, 4.9.2).</summary>
    private static Float80 Invalid(ref int flags, int before)
    {
        flags = before | FpuFlags.IE;
        return Float80.Indefinite;
    }

    /// <summary>A NaN operand: its result, with IE for an SNaN and no DE.</summary>
    private static Float80 NaNResult(Float80 a, Float80 b, ref int flags, int before)
    {
        flags = before;
        return PropagateNaN(a, b, ref flags);
    }

    // ---- arithmetic -------------------------------------------------------------------------------------

    public static Float80 Add(Float80 a, Float80 b, bool subtract, int pc, int rc, ref int flags, bool uo = false, bool uu = false)
    {
        if (subtract) b = b.Negate();
        int f0 = flags;
        var ka = Unpack(a, out bool sa, out int ea, out UInt128 ma, ref flags);
        var kb = Unpack(b, out bool sb, out int eb, out UInt128 mb, ref flags);
        if (ka == Kind.Unsupported || kb == Kind.Unsupported) return Invalid(ref flags, f0);
        if (ka == Kind.NaN || kb == Kind.NaN) return NaNResult(a, subtract ? b.Negate() : b, ref flags, f0);
        if (ka == Kind.Infinity || kb == Kind.Infinity)
        {
            if (ka == Kind.Infinity && kb == Kind.Infinity && sa != sb) return Invalid(ref flags, f0);
            return ka == Kind.Infinity ? a : b;
        }
        if (ka == Kind.Zero && kb == Kind.Zero)
        {
            bool neg = sa == sb ? sa : rc == RcDown;
            return new Float80((ushort)(neg ? 0x8000 : 0), 0);
        }
        if (ka == Kind.Zero) return PackRound(sb, eb, mb, pc, rc, ref flags, uo, uu);
        if (kb == Kind.Zero) return PackRound(sa, ea, ma, pc, rc, ref flags, uo, uu);
        // |a| >= |b|
        if (eb > ea || (eb == ea && mb > ma))
        {
            (sa, sb) = (sb, sa); (ea, eb) = (eb, ea); (ma, mb) = (mb, ma);
        }
        // One bit of headroom for the carry: value = sig * 2^(e - 126).
        ma >>= 1;
        mb = ShiftRightJam(mb, 1 + (ea - eb));
        UInt128 r;
        if (sa == sb) r = ma + mb;
        else
        {
            r = ma - mb;
            if (r == 0) return new Float80((ushort)(rc == RcDown ? 0x8000 : 0), 0);
        }
        return PackRound(sa, ea + 1, r, pc, rc, ref flags, uo, uu);
    }

    public static Float80 Mul(Float80 a, Float80 b, int pc, int rc, ref int flags, bool uo = false, bool uu = false)
    {
        int f0 = flags;
        var ka = Unpack(a, out bool sa, out int ea, out UInt128 ma, ref flags);
        var kb = Unpack(b, out bool sb, out int eb, out UInt128 mb, ref flags);
        bool sign = sa ^ sb;
        if (ka == Kind.Unsupported || kb == Kind.Unsupported) return Invalid(ref flags, f0);
        if (ka == Kind.NaN || kb == Kind.NaN) return NaNResult(a, b, ref flags, f0);
        if (ka == Kind.Infinity || kb == Kind.Infinity)
        {
            if (ka == Kind.Zero || kb == Kind.Zero) return Invalid(ref flags, f0);
            return Float80.Infinity(sign);
        }
        if (ka == Kind.Zero || kb == Kind.Zero) return new Float80((ushort)(sign ? 0x8000 : 0), 0);
        UInt128 p = (UInt128)(ulong)(ma >> 64) * (ulong)(mb >> 64);   // value = p * 2^(ea+eb-126)
        return PackRound(sign, ea + eb + 1, p, pc, rc, ref flags, uo, uu);
    }

    public static Float80 Div(Float80 a, Float80 b, int pc, int rc, ref int flags, bool uo = false, bool uu = false)
    {
        int f0 = flags;
        var ka = Unpack(a, out bool sa, out int ea, out UInt128 ma, ref flags);
        var kb = Unpack(b, out bool sb, out int eb, out UInt128 mb, ref flags);
        bool sign = sa ^ sb;
        if (ka == Kind.Unsupported || kb == Kind.Unsupported) return Invalid(ref flags, f0);
        if (ka == Kind.NaN || kb == Kind.NaN) return NaNResult(a, b, ref flags, f0);
        if (ka == Kind.Infinity)
            return kb == Kind.Infinity ? Invalid(ref flags, f0) : Float80.Infinity(sign);
        if (kb == Kind.Infinity) return new Float80((ushort)(sign ? 0x8000 : 0), 0);
        if (kb == Kind.Zero)
        {
            if (ka == Kind.Zero) return Invalid(ref flags, f0);
            flags = f0 | FpuFlags.ZE;                  // division by zero takes precedence over DE
            return Float80.Infinity(sign);
        }
        if (ka == Kind.Zero) return new Float80((ushort)(sign ? 0x8000 : 0), 0);
        ulong x = (ulong)(ma >> 64), y = (ulong)(mb >> 64);
        UInt128 n1 = (UInt128)x << 64;
        UInt128 q1 = n1 / y, r1 = n1 % y;
        UInt128 n2 = r1 << 64;
        UInt128 q2 = n2 / y, r2 = n2 % y;
        // a/b = (q1 * 2^64 + q2 + r2/y) * 2^(ea - eb - 128); q1 < 2^65.
        UInt128 sig;
        int e;
        if ((q1 >> 64) != 0)
        {
            sig = (q1 << 63) | (q2 >> 1) | ((q2 & 1) != 0 || r2 != 0 ? UInt128.One : UInt128.Zero);
            e = ea - eb;
        }
        else
        {
            sig = (q1 << 64) | q2 | (r2 != 0 ? UInt128.One : UInt128.Zero);
            e = ea - eb - 1;
        }
        return PackRound(sign, e, sig, pc, rc, ref flags, uo, uu);
    }

    public static Float80 Sqrt(Float80 a, int pc, int rc, ref int flags)
    {
        int f0 = flags;
        var k = Unpack(a, out bool s, out int e, out UInt128 m, ref flags);
        if (k == Kind.Unsupported) return Invalid(ref flags, f0);
        if (k == Kind.NaN) return NaNResult(a, a, ref flags, f0);
        if (k == Kind.Zero) return a;
        if (s) return Invalid(ref flags, f0);
        if (k == Kind.Infinity) return a;
        // a = M * 2^t with M the 64-bit significand and t = e - 63; make t even.
        ulong mant = (ulong)(m >> 64);
        int t = e - 63;
        UInt128 radHigh = mant;             // the radicand is radHigh * 2^128
        if ((t & 1) != 0) { radHigh <<= 1; t -= 1; }
        // Digit-by-digit square root of radHigh * 2^128: root = floor(sqrt(M) * 2^64).
        UInt128 rem = 0, root = 0;
        for (int pair = 96; pair >= 0; pair--)
        {
            int bit = 2 * pair;             // bit position in the radicand
            uint two = bit >= 128 ? (uint)((radHigh >> (bit - 128)) & 3) : 0u;
            rem = (rem << 2) | two;
            UInt128 trial = (root << 2) | 1;
            root <<= 1;
            if (rem >= trial) { rem -= trial; root |= 1; }
        }
        if (rem != 0) root |= 1;            // the root is < 2^97, so bit 0 is far below the rounding point
        // value = root * 2^(t/2 - 64) = root * 2^(E - 127) with E = t/2 + 63.
        return PackRound(false, t / 2 + 63, root, pc, rc, ref flags, false, false);
    }

    /// <summary>Rounds to an integer in the current rounding mode (FRNDINT; SDM Vol. 2).</summary>
    public static Float80 RoundToInteger(Float80 a, int rc, ref int flags)
    {
        int f0 = flags;
        var k = Unpack(a, out bool s, out int e, out UInt128 m, ref flags);
        if (k == Kind.Unsupported) return Invalid(ref flags, f0);
        if (k == Kind.NaN) return NaNResult(a, a, ref flags, f0);
        if (k != Kind.Normal) return a;
        if (e >= 63) return a;
        ulong mag = IntegerPart(s, e, (ulong)(m >> 64), rc, ref flags, out _);
        if (mag == 0) return new Float80((ushort)(s ? 0x8000 : 0), 0);
        return FromUInt64(s, mag);
    }

    /// <summary>|value| rounded to an integer under <paramref name="rc"/>; e &lt; 64. Overflow reports 2^64.</summary>
    private static ulong IntegerPart(bool sign, int e, ulong mant, int rc, ref int flags, out bool carry64)
    {
        carry64 = false;
        if (e < 0)
        {
            // 0 < |x| < 1: always inexact; exactly one half rounds to even (zero).
            flags |= FpuFlags.PE;
            bool up = rc switch
            {
                RcNearest => e == -1 && mant > (1UL << 63),
                RcDown => sign,
                RcUp => !sign,
                _ => false,
            };
            if (up) { flags |= FpuFlags.C1; return 1; }
            return 0;
        }
        int fracBits = 63 - e;
        ulong ip = fracBits == 0 ? mant : mant >> fracBits;
        ulong frac = fracBits == 0 ? 0 : mant << (64 - fracBits);
        if (frac == 0) return ip;
        flags |= FpuFlags.PE;
        bool roundUp = rc switch
        {
            RcNearest => frac > (1UL << 63) || (frac == (1UL << 63) && (ip & 1) != 0),
            RcDown => sign,
            RcUp => !sign,
            _ => false,
        };
        if (roundUp)
        {
            flags |= FpuFlags.C1;
            ip++;
            if (ip == 0) carry64 = true;
        }
        return ip;
    }

    /// <summary>FIST/FISTP: converts to a signed integer of <paramref name="bits"/> bits; false (IE) when
    /// the value is NaN, infinite or out of range.</summary>
    public static bool ToInt(Float80 a, int bits, int rc, ref int flags, out long result)
    {
        result = 0;
        int noDe = 0;                                   // stores do not signal DE
        var k = Unpack(a, out bool s, out int e, out UInt128 m, ref noDe);
        if (k is Kind.NaN or Kind.Infinity or Kind.Unsupported) { flags |= FpuFlags.IE; return false; }
        if (k == Kind.Zero) return true;
        if (e >= 64) { flags |= FpuFlags.IE; return false; }
        int f = flags;
        ulong mag = IntegerPart(s, e, (ulong)(m >> 64), rc, ref f, out bool carry);
        ulong limit = 1UL << (bits - 1);
        if (carry || (s ? mag > limit : mag >= limit)) { flags |= FpuFlags.IE; return false; }
        flags = f;
        result = s ? -(long)mag : (long)mag;
        if (s && mag == limit) result = bits == 64 ? long.MinValue : -(long)limit;
        return true;
    }

    public static Float80 FromInt64(long v)
    {
        if (v == 0) return Float80.Zero;
        bool s = v < 0;
        ulong mag = s ? (ulong)(-(v + 1)) + 1 : (ulong)v;
        return FromUInt64(s, mag);
    }

    internal static Float80 FromUInt64(bool sign, ulong mag)
    {
        int lz = BitOperations.LeadingZeroCount(mag);
        return new Float80((ushort)((sign ? 0x8000 : 0) | (Bias + 63 - lz)), mag << lz);
    }

    // ---- conversions to and from the memory formats (SDM Vol. 1, 4.2) -----------------------------------

    public static Float80 FromDouble(ulong bits, ref int flags)
    {
        bool s = (bits >> 63) != 0;
        int ex = (int)(bits >> 52) & 0x7FF;
        ulong frac = bits & 0xF_FFFF_FFFF_FFFF;
        ushort sgn = (ushort)(s ? 0x8000 : 0);
        if (ex == 0x7FF)
        {
            if (frac == 0) return Float80.Infinity(s);
            if ((frac & (1UL << 51)) == 0) flags |= FpuFlags.IE;          // signaling NaN: IE, quieted
            return new Float80((ushort)(sgn | 0x7FFF), (1UL << 63) | (1UL << 62) | (frac << 11));
        }
        if (ex == 0)
        {
            if (frac == 0) return new Float80(sgn, 0);
            flags |= FpuFlags.DE;
            int lz = BitOperations.LeadingZeroCount(frac);
            return new Float80((ushort)(sgn | (Bias - 1022 - (lz - 11))), frac << lz);
        }
        return new Float80((ushort)(sgn | (ex - 1023 + Bias)), (1UL << 63) | (frac << 11));
    }

    public static Float80 FromSingle(uint bits, ref int flags)
    {
        bool s = (bits >> 31) != 0;
        int ex = (int)(bits >> 23) & 0xFF;
        ulong frac = bits & 0x7F_FFFF;
        ushort sgn = (ushort)(s ? 0x8000 : 0);
        if (ex == 0xFF)
        {
            if (frac == 0) return Float80.Infinity(s);
            if ((frac & (1UL << 22)) == 0) flags |= FpuFlags.IE;
            return new Float80((ushort)(sgn | 0x7FFF), (1UL << 63) | (1UL << 62) | (frac << 40));
        }
        if (ex == 0)
        {
            if (frac == 0) return new Float80(sgn, 0);
            flags |= FpuFlags.DE;
            int lz = BitOperations.LeadingZeroCount(frac);
            return new Float80((ushort)(sgn | (Bias - 126 - (lz - 40))), frac << lz);
        }
        return new Float80((ushort)(sgn | (ex - 127 + Bias)), (1UL << 63) | (frac << 40));
    }

    /// <summary>Rounds to an IEEE binary format (single or double) under <paramref name="rc"/>.</summary>
    private static ulong ToBinary(Float80 a, int rc, ref int flags, int fracBits, int expBits)
    {
        int emax = (1 << (expBits - 1)) - 1, emin = 1 - emax;
        ulong signBit = 1UL << (fracBits + expBits);
        ulong expMask = (1UL << expBits) - 1;
        int noDe = 0;                                   // stores do not signal DE
        var k = Unpack(a, out bool s, out int e, out UInt128 m, ref noDe);
        ulong sign = s ? signBit : 0;
        switch (k)
        {
            case Kind.Zero: return sign;
            case Kind.Infinity: return sign | (expMask << fracBits);
            case Kind.NaN:
                if (a.IsSignalingNaN) flags |= FpuFlags.IE;
                return sign | (expMask << fracBits) | (1UL << (fracBits - 1)) | ((a.Mantissa << 1) >> (64 - fracBits));
            case Kind.Unsupported:
                flags |= FpuFlags.IE;
                return signBit | (expMask << fracBits) | (1UL << (fracBits - 1));   // QNaN indefinite
        }
        if (!Round(s, ref e, ref m, fracBits + 1, emin, emax, rc, ref flags))
        {
            if (OverflowToInfinity(s, rc)) { flags |= FpuFlags.C1; return sign | (expMask << fracBits); }
            flags &= ~FpuFlags.C1;
            return sign | ((expMask - 1) << fracBits) | ((1UL << fracBits) - 1);
        }
        ulong mant = (ulong)(m >> (127 - fracBits));      // integer bit at fracBits
        if ((mant >> fracBits) == 0) return sign | mant;   // denormal
        return sign | ((ulong)(e + emax) << fracBits) | (mant & ((1UL << fracBits) - 1));
    }

    public static ulong ToDouble(Float80 a, int rc, ref int flags) => ToBinary(a, rc, ref flags, 52, 11);
    public static uint ToSingle(Float80 a, int rc, ref int flags) => (uint)ToBinary(a, rc, ref flags, 23, 8);

    /// <summary>A double close to the value, for the transcendental functions and for display.</summary>
    public static double ToDoubleApprox(Float80 a)
    {
        int f = 0;
        return BitConverter.UInt64BitsToDouble(ToDouble(a, RcNearest, ref f));
    }

    public static Float80 FromDoubleValue(double d)
    {
        int f = 0;
        return FromDouble(BitConverter.DoubleToUInt64Bits(d), ref f);
    }

    // ---- comparison -------------------------------------------------------------------------------------

    /// <summary>-1, 0, 1, or 2 for unordered. <paramref name="quiet"/> (FUCOM) raises IE only for SNaN.</summary>
    public static int Compare(Float80 a, Float80 b, bool quiet, ref int flags)
    {
        int f0 = flags;
        var ka = Unpack(a, out bool sa, out int ea, out UInt128 ma, ref flags);
        var kb = Unpack(b, out bool sb, out int eb, out UInt128 mb, ref flags);
        if (ka == Kind.Unsupported || kb == Kind.Unsupported) { flags = f0 | FpuFlags.IE; return 2; }
        if (ka == Kind.NaN || kb == Kind.NaN)
        {
            flags = f0;
            if (!quiet || a.IsSignalingNaN || b.IsSignalingNaN) flags |= FpuFlags.IE;
            return 2;
        }
        if (ka == Kind.Zero && kb == Kind.Zero) return 0;
        int ca = Sgn(ka, sa), cb = Sgn(kb, sb);
        if (ca != cb) return ca < cb ? -1 : 1;
        if (ka == Kind.Zero) return sb ? 1 : -1;
        if (kb == Kind.Zero) return sa ? -1 : 1;
        int mag;
        if (ka == Kind.Infinity || kb == Kind.Infinity)
            mag = ka == kb ? 0 : ka == Kind.Infinity ? 1 : -1;
        else mag = ea != eb ? (ea > eb ? 1 : -1) : ma == mb ? 0 : ma > mb ? 1 : -1;
        return sa ? -mag : mag;
    }

    private static int Sgn(Kind k, bool s) => k == Kind.Zero ? 0 : s ? -1 : 1;

    // ---- remainder, scale, extract -------------------------------------------------------------------------

    /// <summary>FPREM (truncating) / FPREM1 (round-to-nearest quotient). Returns the quotient's low three bits
    /// and whether the reduction is complete (C2 clear) (SDM Vol. 2, FPREM).</summary>
    public static Float80 Remainder(Float80 a, Float80 b, bool ieee, ref int flags, out int quotientBits, out bool complete)
    {
        quotientBits = 0; complete = true;
        int f0 = flags;
        var ka = Unpack(a, out bool sa, out int ea, out UInt128 ma, ref flags);
        var kb = Unpack(b, out bool sb, out int eb, out UInt128 mb, ref flags);
        if (ka == Kind.Unsupported || kb == Kind.Unsupported) return Invalid(ref flags, f0);
        if (ka == Kind.NaN || kb == Kind.NaN) return NaNResult(a, b, ref flags, f0);
        if (ka == Kind.Infinity || kb == Kind.Zero) return Invalid(ref flags, f0);
        if (ka == Kind.Zero || kb == Kind.Infinity) return a;
        ulong x = (ulong)(ma >> 64), y = (ulong)(mb >> 64);
        int d = ea - eb;
        if (d < 0)
        {
            if (!ieee || d < -1) return a;
            // |a| < |b|: FPREM1 may still subtract once when |a| > |b|/2.
        }
        if (d >= 64)
        {
            // Partial remainder (C2 = 1): the exponent difference is reduced by N = 32 + (D mod 32), the value
            // Intel parts use (the SDM allows 32..63), leaving a multiple of 32 for the next FPREM.
            int n = 32 + d % 32;
            UInt128 num = (UInt128)x << n;
            UInt128 r = num % y;
            complete = false;
            return PackRound(sa, ea - n, r << 64, 3, RcZero, ref flags, false, false).WithSign(sa);
        }
        // Exact: a = x * 2^(ea-63), b = y * 2^(eb-63); q = a/b.
        UInt128 q, rem;
        int scaleE;                          // rem * 2^(scaleE - 63) is the remainder
        if (d >= 0)
        {
            UInt128 num = (UInt128)x << d;
            q = num / y; rem = num % y; scaleE = eb;
        }
        else
        {
            // FPREM1 with d = -1: a/b is in [1/4, 1); the nearest quotient is 1 when |a| > |b|/2, i.e. x > y.
            if (x <= y) return a;
            // a - b = (x - 2y) * 2^(ea-63): the sign flips, the magnitude is 2y - x.
            quotientBits = 1;
            UInt128 mag = ((UInt128)y << 1) - x;
            return PackRound(!sa, ea, mag << 64, 3, RcNearest, ref flags, false, false);
        }
        bool negate = false;
        if (ieee)
        {
            // Round the quotient to nearest (ties to even): compare 2*rem with y.
            UInt128 twice = rem << 1;
            if (twice > y || (twice == y && (q & 1) != 0))
            {
                q += 1;
                rem = y - rem;
                negate = true;
            }
        }
        quotientBits = (int)(q & 7);
        bool sign = negate ? !sa : sa;
        if (rem == 0) return new Float80((ushort)(sa ? 0x8000 : 0), 0);
        return PackRound(sign, scaleE, rem << 64, 3, RcNearest, ref flags, false, false);
    }

    /// <summary>FSCALE: a * 2^trunc(b).</summary>
    public static Float80 Scale(Float80 a, Float80 b, int pc, int rc, ref int flags, bool uo, bool uu)
    {
        int f0 = flags;
        var ka = Unpack(a, out bool sa, out int ea, out UInt128 ma, ref flags);
        var kb = Unpack(b, out bool sb, out int eb, out UInt128 mb, ref flags);
        if (ka == Kind.Unsupported || kb == Kind.Unsupported) return Invalid(ref flags, f0);
        if (ka == Kind.NaN || kb == Kind.NaN) return NaNResult(a, b, ref flags, f0);
        if (kb == Kind.Infinity)
        {
            if (ka == Kind.Zero && !sb) return Invalid(ref flags, f0);
            if (ka == Kind.Infinity && sb) return Invalid(ref flags, f0);
            if (ka == Kind.Zero || ka == Kind.Infinity) return a;
            return sb ? new Float80((ushort)(sa ? 0x8000 : 0), 0) : Float80.Infinity(sa);
        }
        if (ka is Kind.Zero or Kind.Infinity) return a;
        int n;
        if (kb == Kind.Zero || eb < 0) n = 0;
        else if (eb > 30) n = sb ? -100000 : 100000;
        else
        {
            n = (int)((ulong)(mb >> 64) >> (63 - eb));
            if (sb) n = -n;
        }
        return PackRound(sa, ea + n, ma, 3, rc, ref flags, uo, uu);
    }

    /// <summary>FXTRACT: the unbiased exponent and the significand (exponent 0).</summary>
    public static (Float80 exponent, Float80 significand) Extract(Float80 a, ref int flags)
    {
        var k = Unpack(a, out bool s, out int e, out UInt128 m, ref flags);
        if (k == Kind.Unsupported) { flags |= FpuFlags.IE; return (Float80.Indefinite, Float80.Indefinite); }
        if (k == Kind.NaN) { var q = PropagateNaN(a, a, ref flags); return (q, q); }
        if (k == Kind.Infinity) return (Float80.Infinity(false), a);
        if (k == Kind.Zero)
        {
            flags |= FpuFlags.ZE;
            return (Float80.Infinity(true), a);
        }
        return (FromInt64(e), Pack(s, 0, m));
    }

    // ---- packed BCD (FBLD/FBSTP) -------------------------------------------------------------------------

    public static Float80 FromBcd(ReadOnlySpan<byte> b)
    {
        long v = 0;
        for (int k = 8; k >= 0; k--)
            v = v * 100 + (b[k] >> 4) * 10 + (b[k] & 0xF);
        bool neg = (b[9] & 0x80) != 0;
        var r = FromInt64(v);
        return neg ? r.WithSign(true) : r;
    }

    /// <summary>FBSTP: false (IE) when the rounded value has more than 18 digits or is not a number.</summary>
    public static bool ToBcd(Float80 a, int rc, ref int flags, Span<byte> b)
    {
        int noDe = 0;
        var k = Unpack(a, out bool s, out int e, out UInt128 m, ref noDe);
        if (k is Kind.NaN or Kind.Infinity or Kind.Unsupported) { flags |= FpuFlags.IE; return false; }
        ulong mag = 0;
        if (k == Kind.Normal)
        {
            if (e >= 64) { flags |= FpuFlags.IE; return false; }
            int f = flags;
            mag = IntegerPart(s, e, (ulong)(m >> 64), rc, ref f, out bool carry);
            if (carry || mag > 999_999_999_999_999_999UL) { flags |= FpuFlags.IE; return false; }
            flags = f;
        }
        for (int i = 0; i < 9; i++)
        {
            int lo = (int)(mag % 10); mag /= 10;
            int hi = (int)(mag % 10); mag /= 10;
            b[i] = (byte)(hi << 4 | lo);
        }
        b[9] = s ? (byte)0x80 : (byte)0;
        return true;
    }
}
