using System.Globalization;
using System.Text;
using Cpu.Tests.Support;
using Emulator.Cpu.Fpu;
using Iced.Intel;
using NUnit.Framework;
using static Iced.Intel.AssemblerRegisters;

namespace Cpu.Tests.X87;

/// <summary>
/// Differential tests against this machine's own x87 unit: the same instruction sequence (FNINIT, FLDCW,
/// load b, load a, the operation, FNSTSW, store) runs natively through X87/x87ref.c, compiled with gcc, and
/// on the emulated CPU, over random operands (normals at every scale, denormals, zeros, infinities, NaNs,
/// unsupported encodings) under every rounding mode and precision control. Arithmetic, comparisons and
/// conversions must agree bit for bit, status word included; the transcendental instructions, which this
/// CPU computes in double precision, must agree to within a few double-precision ulps.
/// </summary>
public class HostX87Tests
{
    private const uint Cw = 0x8000, A = 0x8010, B = 0x8020, R = 0x8030, Sw = 0x8040;
    private static readonly ushort[] ControlWords = { 0x037F, 0x077F, 0x0B7F, 0x0F7F, 0x027F, 0x007F };
    private static string? helper;

    private static string Helper()
    {
        if (helper != null) return helper;
        string gcc = ExternalTool.Require("gcc", "gcc");
        string src = Path.Combine(TestContext.CurrentContext.TestDirectory, "X87", "x87ref.c");
        string exe = Path.Combine(ExternalTool.TempDir("x87"), "x87ref");
        var (code, _, err) = ExternalTool.Run(gcc, new[] { "-O1", "-o", exe, src });
        if (code != 0) Assert.Fail($"gcc could not build the x87 reference helper:\n{err}");
        return helper = exe;
    }

    private sealed record Case(string Op, ushort Cw, Float80 A, Float80 B);

    private static Action<Assembler> Snippet(string op) => a =>
    {
        a.fninit();
        a.fldcw(__word_ptr[Cw]);
        a.fld(__tword_ptr[B]);
        a.fld(__tword_ptr[A]);
        bool store = true;
        switch (op)
        {
            case "add": a.fadd(st0, st1); break;
            case "sub": a.fsub(st0, st1); break;
            case "mul": a.fmul(st0, st1); break;
            case "div": a.fdiv(st0, st1); break;
            case "sqrt": a.fsqrt(); break;
            case "rndint": a.frndint(); break;
            case "prem": a.fprem(); break;
            case "prem1": a.fprem1(); break;
            case "scale": a.fscale(); break;
            case "com": a.fcom(st0, st1); break;
            case "ucom": a.fucom(st0, st1); break;
            case "sin": a.fsin(); break;
            case "cos": a.fcos(); break;
            case "tan": a.fptan(); a.fstp(st0); break;
            case "atan": a.fxch(st0, st1); a.fpatan(); break;
            case "f2xm1": a.f2xm1(); break;
            case "yl2x": a.fyl2x(); break;
            case "yl2xp1": a.fyl2xp1(); break;
            case "st64": a.fst(__qword_ptr[R]); store = false; break;
            case "st32": a.fst(__dword_ptr[R]); store = false; break;
            case "ist16": a.fist(__word_ptr[R]); store = false; break;
            case "ist32": a.fist(__dword_ptr[R]); store = false; break;
            case "ist64": a.fistp(__qword_ptr[R]); store = false; break;
            default: throw new ArgumentException(op);
        }
        a.fnstsw(__word_ptr[Sw]);
        if (store) a.fstp(__tword_ptr[R]);
        a.fninit();
        a.hlt();
    };

    private static bool IsExtended(string op) => !op.StartsWith("st") && !op.StartsWith("ist");
    private static bool IsTranscendental(string op) => op is "sin" or "cos" or "tan" or "atan" or "f2xm1" or "yl2x" or "yl2xp1";

    // ---- operand generation ------------------------------------------------------------------------------

    private static Float80 Random80(Random rng, int expCenter, int expSpread, bool specials)
    {
        bool sign = rng.Next(2) == 1;
        ulong m = (ulong)rng.NextInt64() << 1 ^ (ulong)rng.Next();
        int kind = specials ? rng.Next(40) : 99;
        int e;
        switch (kind)
        {
            case 0: return new Float80((ushort)(sign ? 0x8000 : 0), 0);                            // zero
            case 1: return Float80.Infinity(sign);
            case 2: return new Float80((ushort)(sign ? 0xFFFF : 0x7FFF), 0xC000_0000_0000_0000 | m >> 2); // QNaN
            case 3: return new Float80((ushort)(sign ? 0xFFFF : 0x7FFF), 0x8000_0000_0000_0001 | (m >> 2 & 0x3FFF_FFFF_FFFF_FFFF)); // SNaN
            case 4: return new Float80((ushort)(sign ? 0x8000 : 0), m >> rng.Next(1, 60));            // denormal
            case 5: e = rng.Next(1, 80); break;                                                         // tiny
            case 6: e = 0x7FFE - rng.Next(0, 80); break;                                                // huge
            case 7: return new Float80((ushort)((sign ? 0x8000 : 0) | rng.Next(1, 0x7FFF)), m & 0x7FFF_FFFF_FFFF_FFFF); // unnormal
            case 8: m &= 0xFFFF_FF00_0000_0000; e = expCenter + rng.Next(-expSpread, expSpread + 1); break; // short significand
            default: e = expCenter + rng.Next(-expSpread, expSpread + 1); break;
        }
        e = Math.Clamp(e, 1, 0x7FFE);
        return new Float80((ushort)((sign ? 0x8000 : 0) | e), m | 1UL << 63);
    }

    private static Float80 FromDouble(double d) => SoftFloat.FromDoubleValue(d);

    private static List<Case> Generate(string op, int perControlWord, int seed)
    {
        var rng = new Random(seed);
        var cases = new List<Case>();
        foreach (ushort cw in ControlWords)
            for (int k = 0; k < perControlWord; k++)
            {
                Float80 a, b;
                switch (op)
                {
                    case "sin": case "cos": case "tan":
                        a = FromDouble((rng.NextDouble() - 0.5) * 200); b = Float80.Zero; break;
                    case "atan":
                        a = FromDouble((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4)));
                        b = FromDouble((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4))); break;
                    case "f2xm1":
                        a = FromDouble(rng.NextDouble() * 2 - 1); b = Float80.Zero; break;
                    case "yl2x":
                        a = FromDouble(rng.NextDouble() * Math.Pow(10, rng.Next(-5, 6))); b = FromDouble((rng.NextDouble() - 0.5) * 10); break;
                    case "yl2xp1":
                        a = FromDouble((rng.NextDouble() - 0.5) * 0.5); b = FromDouble((rng.NextDouble() - 0.5) * 10); break;
                    case "prem": case "prem1":
                        a = Random80(rng, 0x3FFF, 40, true);
                        b = Random80(rng, 0x3FFF, 20, true);
                        if (a.Exponent != 0x7FFF && b.Exponent != 0x7FFF && a.Exponent - b.Exponent >= 63)
                            a = new Float80((ushort)((a.SignExponent & 0x8000) | (b.Exponent + 30)), a.Mantissa);
                        break;
                    case "scale":
                        a = Random80(rng, 0x3FFF, 4000, true);
                        b = FromDouble(Math.Round((rng.NextDouble() - 0.5) * 600) + (rng.Next(3) == 0 ? 0.5 : 0)); break;
                    case "ist16": case "ist32": case "ist64":
                        a = Random80(rng, 0x3FFF + (op == "ist16" ? 8 : op == "ist32" ? 20 : 40), 24, true); b = Float80.Zero; break;
                    case "rndint":
                        a = Random80(rng, 0x3FFF + 10, 30, true); b = Float80.Zero; break;
                    case "st32":
                        a = Random80(rng, 0x3FFF, 160, true); b = Float80.Zero; break;
                    case "st64":
                        a = Random80(rng, 0x3FFF, 1100, true); b = Float80.Zero; break;
                    default:
                        a = Random80(rng, 0x3FFF, 70, true);
                        b = rng.Next(8) == 0 ? a : Random80(rng, 0x3FFF, 70, true);
                        if (rng.Next(10) == 0) b = Random80(rng, 0x3FFF, 16000, true);   // overflow and underflow
                        break;
                }
                cases.Add(new Case(op, cw, a, b));
            }
        return cases;
    }

    private static List<(ulong bits, ushort se, ushort sw)> RunHost(List<Case> cases)
    {
        var input = new StringBuilder();
        foreach (var c in cases)
            input.Append(CultureInfo.InvariantCulture,
                $"{c.Op} {c.Cw:x} {c.A.SignExponent:x} {c.A.Mantissa:x} {c.B.SignExponent:x} {c.B.Mantissa:x}\n");
        var (code, stdout, stderr) = ExternalTool.Run(Helper(), Array.Empty<string>(), Encoding.ASCII.GetBytes(input.ToString()));
        Assert.That(code, Is.Zero, $"the x87 reference helper failed: {stderr}");
        var results = new List<(ulong, ushort, ushort)>();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = line.Split(' ');
            if (p.Length == 3)
                results.Add((ulong.Parse(p[1], NumberStyles.HexNumber), ushort.Parse(p[0], NumberStyles.HexNumber), ushort.Parse(p[2], NumberStyles.HexNumber)));
            else
                results.Add((ulong.Parse(p[0], NumberStyles.HexNumber), 0, ushort.Parse(p[1], NumberStyles.HexNumber)));
        }
        Assert.That(results, Has.Count.EqualTo(cases.Count));
        return results;
    }

    private static (ulong bits, ushort se, ushort sw) RunOurs(FlatMachine m, Case c)
    {
        m.Bus.Write16(Cw, c.Cw);
        m.Write80(A, c.A.SignExponent, c.A.Mantissa);
        m.Write80(B, c.B.SignExponent, c.B.Mantissa);
        m.Write64(R, 0);
        m.Write80(R, 0, 0);
        m.Run();
        ushort sw = m.Bus.Read16(Sw);
        if (IsExtended(c.Op)) { var (se, mant) = m.Read80(R); return (mant, se, sw); }
        return (m.Read64(R), 0, sw);
    }

    private static ulong StoreMask(string op) => op switch { "st32" or "ist32" => 0xFFFF_FFFF, "ist16" => 0xFFFF, _ => ulong.MaxValue };

    [TestCase("add", 1)]
    [TestCase("sub", 2)]
    [TestCase("mul", 3)]
    [TestCase("div", 4)]
    [TestCase("sqrt", 5)]
    [TestCase("rndint", 6)]
    [TestCase("prem", 7)]
    [TestCase("prem1", 8)]
    [TestCase("scale", 9)]
    [TestCase("com", 10)]
    [TestCase("ucom", 11)]
    [TestCase("st64", 12)]
    [TestCase("st32", 13)]
    [TestCase("ist16", 14)]
    [TestCase("ist32", 15)]
    [TestCase("ist64", 16)]
    public void ExactOperationsAgreeWithTheHostBitForBit(string op, int seed)
    {
        var cases = Generate(op, 250, seed);
        var host = RunHost(cases);
        var m = new FlatMachine();
        m.Load(Snippet(op));
        int mismatches = 0;
        var report = new StringBuilder();
        for (int k = 0; k < cases.Count; k++)
        {
            var c = cases[k];
            var ours = RunOurs(m, c);
            var h = host[k];
            ulong mask = StoreMask(op);
            bool same = (ours.bits & mask) == (h.bits & mask) && ours.se == h.se && ours.sw == h.sw;
            if (same) continue;
            if (++mismatches <= 10)
                report.AppendLine($"{op} cw={c.Cw:X4} a={c.A} b={c.B}: ours {ours.se:X4}:{ours.bits:X16} sw {ours.sw:X4}, host {h.se:X4}:{h.bits:X16} sw {h.sw:X4}");
        }
        Assert.That(mismatches, Is.Zero, $"{mismatches} of {cases.Count} differ from the host x87:\n{report}");
    }

    [TestCase("sin", 21)]
    [TestCase("cos", 22)]
    [TestCase("tan", 23)]
    [TestCase("atan", 24)]
    [TestCase("f2xm1", 25)]
    [TestCase("yl2x", 26)]
    [TestCase("yl2xp1", 27)]
    public void TranscendentalFunctionsAgreeWithTheHostToDoublePrecision(string op, int seed)
    {
        var cases = Generate(op, 100, seed);
        var host = RunHost(cases);
        var m = new FlatMachine();
        m.Load(Snippet(op));
        var report = new StringBuilder();
        int bad = 0;
        for (int k = 0; k < cases.Count; k++)
        {
            var c = cases[k];
            var ours = RunOurs(m, c);
            var h = host[k];
            double o = SoftFloat.ToDoubleApprox(new Float80(ours.se, ours.bits));
            double x = SoftFloat.ToDoubleApprox(new Float80(h.se, h.bits));
            double scale = Math.Max(1, Math.Abs(SoftFloat.ToDoubleApprox(c.A)));
            bool close = (double.IsNaN(o) && double.IsNaN(x)) || o == x || Math.Abs(o - x) <= 4e-16 * Math.Max(Math.Abs(x), scale);
            // Exception flags other than precision (and C1, its rounding direction) must agree too.
            bool flags = (ours.sw & 0x5D) == (h.sw & 0x5D);
            if (close && flags) continue;
            if (++bad <= 10) report.AppendLine($"{op} a={c.A} b={c.B}: ours {o:R} sw {ours.sw:X4}, host {x:R} sw {h.sw:X4}");
        }
        Assert.That(bad, Is.Zero, $"{bad} of {cases.Count} differ from the host x87:\n{report}");
    }
}
