using System.Globalization;
using System.Text;
using Cpu.Tests.Support;
using Iced.Intel;
using NUnit.Framework;
using static Iced.Intel.AssemblerRegisters;

namespace Cpu.Tests.Integer;

/// <summary>
/// The 32-bit and 0F-page integer instructions, which the 286 captures cannot cover, against this x86 host:
/// the same instruction bytes (register forms, whose encoding means the same in 64-bit mode) run natively
/// through Integer/hostrun.c and on the emulated CPU from the same registers and EFLAGS. Results and the six
/// arithmetic flags must agree, except the flags the SDM calls undefined for that instruction and operands.
/// </summary>
public class HostIntegerTests
{
    private const uint S = 0x8000;     // state: EAX EBX ECX EDX ESI EDI EBP EFLAGS, then a #DE marker
    private const uint ArithFlags = 0x8D5, CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
    private static string? helper;

    private static string Helper()
    {
        if (helper != null) return helper;
        string gcc = ExternalTool.Require("gcc", "gcc");
        string src = Path.Combine(TestContext.CurrentContext.TestDirectory, "Integer", "hostrun.c");
        string exe = Path.Combine(ExternalTool.TempDir("int"), "hostrun");
        var (code, _, err) = ExternalTool.Run(gcc, new[] { "-O1", "-o", exe, src });
        if (code != 0) Assert.Fail($"gcc could not build the host runner:\n{err}");
        return helper = exe;
    }

    private sealed record Case(byte[] Bytes, uint[] Regs, uint Undefined, bool ResultUndefined);

    private static byte[] Encode(params Instruction[] ins)
    {
        var w = new MemoryStream();
        var enc = Iced.Intel.Encoder.Create(32, new StreamCodeWriter(w));
        foreach (var i in ins) enc.Encode(i, 0);
        return w.ToArray();
    }

    /// <summary>x86-64 stub: load the eight values from [RDI], run the bytes, store them back.</summary>
    private static byte[] HostStub(byte[] instruction)
    {
        var a = new Assembler(64);
        a.push(rbx); a.push(rbp);
        a.mov(r8, rdi);
        a.mov(eax, __dword_ptr[r8]); a.mov(ebx, __dword_ptr[r8 + 4]); a.mov(ecx, __dword_ptr[r8 + 8]);
        a.mov(edx, __dword_ptr[r8 + 12]); a.mov(esi, __dword_ptr[r8 + 16]); a.mov(edi, __dword_ptr[r8 + 20]);
        a.mov(ebp, __dword_ptr[r8 + 24]);
        a.mov(r9d, __dword_ptr[r8 + 28]); a.push(r9); a.popfq();
        a.db(instruction);
        a.pushfq(); a.pop(r9); a.mov(__dword_ptr[r8 + 28], r9d);
        a.mov(__dword_ptr[r8], eax); a.mov(__dword_ptr[r8 + 4], ebx); a.mov(__dword_ptr[r8 + 8], ecx);
        a.mov(__dword_ptr[r8 + 12], edx); a.mov(__dword_ptr[r8 + 16], esi); a.mov(__dword_ptr[r8 + 20], edi);
        a.mov(__dword_ptr[r8 + 24], ebp);
        a.pop(rbp); a.pop(rbx); a.ret();
        var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0);
        return ms.ToArray();
    }

    /// <summary>Values at the sign and carry boundaries of every width.</summary>
    private static readonly uint[] Edges =
        { 0x7F, 0x80, 0xFF, 0x7F7F, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FF7F, 0xFFFF_7FFF, 0x7F80 };

    private static uint[] RandomRegs(Random rng)
    {
        var r = new uint[8];
        for (int k = 0; k < 7; k++)
        {
            r[k] = rng.Next(7) switch
            {
                0 => 0,
                1 => 0xFFFF_FFFF,
                2 => (uint)rng.Next(16),
                3 => 0x8000_0000u ^ (uint)rng.Next(4),
                4 => (uint)rng.Next(0x10000) * 0x10001u,
                5 => Edges[rng.Next(Edges.Length)] ^ (uint)rng.Next(2),
                _ => (uint)rng.NextInt64(),
            };
        }
        r[7] = 2 | ((uint)rng.Next() & ArithFlags);
        return r;
    }

    // ---- instruction families with their undefined flags (SDM Vol. 2, "Flags Affected") ------------------

    private static readonly Register[] R8 = { Register.AL, Register.BL, Register.CH, Register.DH };
    private static readonly Register[] R16 = { Register.AX, Register.BX, Register.CX, Register.SI };
    private static readonly Register[] R32 = { Register.EAX, Register.EBX, Register.ECX, Register.EDI };

    private static Register Reg(Random rng, int w) => (w == 8 ? R8 : w == 16 ? R16 : R32)[rng.Next(4)];

    private static Case Alu(Random rng, string op)
    {
        int w = new[] { 8, 16, 32 }[rng.Next(3)];
        var regs = RandomRegs(rng);
        Register d = Reg(rng, w), s = Reg(rng, w);
        Code code = (op, w) switch
        {
            ("add", 8) => Code.Add_rm8_r8, ("add", 16) => Code.Add_rm16_r16, ("add", _) => Code.Add_rm32_r32,
            ("adc", 8) => Code.Adc_rm8_r8, ("adc", 16) => Code.Adc_rm16_r16, ("adc", _) => Code.Adc_rm32_r32,
            ("sub", 8) => Code.Sub_rm8_r8, ("sub", 16) => Code.Sub_rm16_r16, ("sub", _) => Code.Sub_rm32_r32,
            ("sbb", 8) => Code.Sbb_rm8_r8, ("sbb", 16) => Code.Sbb_rm16_r16, ("sbb", _) => Code.Sbb_rm32_r32,
            ("and", 8) => Code.And_rm8_r8, ("and", 16) => Code.And_rm16_r16, ("and", _) => Code.And_rm32_r32,
            ("or", 8) => Code.Or_rm8_r8, ("or", 16) => Code.Or_rm16_r16, ("or", _) => Code.Or_rm32_r32,
            ("xor", 8) => Code.Xor_rm8_r8, ("xor", 16) => Code.Xor_rm16_r16, ("xor", _) => Code.Xor_rm32_r32,
            ("cmp", 8) => Code.Cmp_rm8_r8, ("cmp", 16) => Code.Cmp_rm16_r16, ("cmp", _) => Code.Cmp_rm32_r32,
            ("test", 8) => Code.Test_rm8_r8, ("test", 16) => Code.Test_rm16_r16, ("test", _) => Code.Test_rm32_r32,
            ("xadd", 8) => Code.Xadd_rm8_r8, ("xadd", 16) => Code.Xadd_rm16_r16, ("xadd", _) => Code.Xadd_rm32_r32,
            ("cmpxchg", 8) => Code.Cmpxchg_rm8_r8, ("cmpxchg", 16) => Code.Cmpxchg_rm16_r16, (_, _) => Code.Cmpxchg_rm32_r32,
        };
        if (op == "cmpxchg" && rng.Next(2) == 0) regs[0] = regs[Array.IndexOf(R32, Register.EAX)];
        uint undef = op is "and" or "or" or "xor" or "test" ? AF : 0;
        return new Case(Encode(Instruction.Create(code, d, s)), regs, undef, false);
    }

    private static Case AluImm(Random rng, string op)
    {
        int w = new[] { 8, 16, 32 }[rng.Next(3)];
        var regs = RandomRegs(rng);
        Register d = Reg(rng, w);
        int imm = rng.Next(3) == 0 ? rng.Next(-2, 2) : (int)regs[rng.Next(7)];
        Code code = (op, w) switch
        {
            ("add", 8) => Code.Add_rm8_imm8, ("add", 16) => Code.Add_rm16_imm16, ("add", _) => Code.Add_rm32_imm32,
            ("sub", 8) => Code.Sub_rm8_imm8, ("sub", 16) => Code.Sub_rm16_imm16, ("sub", _) => Code.Sub_rm32_imm32,
            ("cmp", 8) => Code.Cmp_rm8_imm8, ("cmp", 16) => Code.Cmp_rm16_imm16, (_, _) => Code.Cmp_rm32_imm32,
        };
        int immW = w == 8 ? (sbyte)imm : w == 16 ? (short)imm : imm;
        return new Case(Encode(Instruction.Create(code, d, immW)), regs, 0, false);
    }

    private static Case Unary(Random rng, string op)
    {
        int w = new[] { 8, 16, 32 }[rng.Next(3)];
        Register d = Reg(rng, w);
        Code code = (op, w) switch
        {
            ("inc", 8) => Code.Inc_rm8, ("inc", 16) => Code.Inc_rm16, ("inc", _) => Code.Inc_rm32,
            ("dec", 8) => Code.Dec_rm8, ("dec", 16) => Code.Dec_rm16, ("dec", _) => Code.Dec_rm32,
            ("neg", 8) => Code.Neg_rm8, ("neg", 16) => Code.Neg_rm16, ("neg", _) => Code.Neg_rm32,
            ("not", 8) => Code.Not_rm8, ("not", 16) => Code.Not_rm16, (_, _) => Code.Not_rm32,
        };
        return new Case(Encode(Instruction.Create(code, d)), RandomRegs(rng), 0, false);
    }

    private static Case ShiftRotate(Random rng, string op)
    {
        int w = new[] { 8, 16, 32 }[rng.Next(3)];
        var regs = RandomRegs(rng);
        Register d = Reg(rng, w);
        int form = rng.Next(3);           // 0: CL, 1: imm8, 2: by 1
        uint count = form == 2 ? 1 : (uint)rng.Next(40);
        if (form == 0) { regs[2] = (regs[2] & 0xFFFF_FF00) | count; if (d is Register.CH) d = Register.DH; if (d is Register.CX) d = Register.BX; if (d is Register.ECX) d = Register.EBX; }
        string ws = w.ToString();
        string suffix = form switch { 0 => "_CL", 1 => "_imm8", _ => "_1" };
        var code = Enum.Parse<Code>($"{char.ToUpper(op[0])}{op[1..]}_rm{ws}{suffix}");
        var ins = form switch
        {
            0 => Instruction.Create(code, d, Register.CL),
            1 => Instruction.Create(code, d, (int)count),
            _ => Instruction.Create(code, d, 1),
        };
        uint c = count & 31;
        bool shift = op is "shl" or "shr" or "sar";
        uint undef = 0;
        if (c != 0)
        {
            if (c != 1) undef |= OF;
            if (shift) undef |= AF;
            if (shift && op != "sar" && c >= w) undef |= CF;
        }
        return new Case(Encode(ins), regs, undef, false);
    }

    private static Case DoubleShift(Random rng, string op)
    {
        int w = rng.Next(2) == 0 ? 16 : 32;
        var regs = RandomRegs(rng);
        bool viaCl = rng.Next(2) == 0;
        uint count = (uint)rng.Next(w == 16 ? 17 : 32);
        var dr = w == 16 ? new[] { Register.AX, Register.BX, Register.SI } : new[] { Register.EAX, Register.EBX, Register.ESI };
        Register d = dr[rng.Next(3)], s = dr[rng.Next(3)];
        Instruction ins;
        if (viaCl)
        {
            regs[2] = (regs[2] & 0xFFFF_FF00) | count;
            ins = Instruction.Create(Enum.Parse<Code>($"{(op == "shld" ? "Shld" : "Shrd")}_rm{w}_r{w}_CL"), d, s, Register.CL);
        }
        else ins = Instruction.Create(Enum.Parse<Code>($"{(op == "shld" ? "Shld" : "Shrd")}_rm{w}_r{w}_imm8"), d, s, (int)count);
        uint c = count & 31, undef = 0;
        if (c != 0) { undef |= AF; if (c != 1) undef |= OF; }
        return new Case(Encode(ins), regs, undef, false);
    }

    private static Case MulDiv(Random rng, string op)
    {
        int w = new[] { 8, 16, 32 }[rng.Next(3)];
        var regs = RandomRegs(rng);
        var src = w == 8 ? Register.BL : w == 16 ? Register.BX : Register.EBX;
        if (op is "div" or "idiv" && rng.Next(3) != 0)
        {
            // Mostly quotients that fit; the others must raise #DE on both.
            regs[3] = rng.Next(2) == 0 ? 0 : 0xFFFF_FFFF;
            if (w == 8) regs[0] = (regs[0] & 0xFFFF_0000) | (ushort)(short)(sbyte)regs[0];
        }
        var code = Enum.Parse<Code>($"{char.ToUpper(op[0])}{op[1..]}_rm{w}");
        uint undef = op is "mul" or "imul" ? SF | ZF | AF | PF : ArithFlags;
        return new Case(Encode(Instruction.Create(code, src)), regs, undef, false);
    }

    private static Case ImulMulti(Random rng)
    {
        bool w16 = rng.Next(2) == 0;
        Register d = w16 ? Register.AX : Register.EAX, s = w16 ? Register.BX : Register.EBX;
        Instruction ins = rng.Next(2) == 0
            ? Instruction.Create(w16 ? Code.Imul_r16_rm16 : Code.Imul_r32_rm32, d, s)
            : Instruction.Create(w16 ? Code.Imul_r16_rm16_imm16 : Code.Imul_r32_rm32_imm32, d, s, w16 ? (short)rng.Next() : rng.Next(int.MinValue, int.MaxValue));
        return new Case(Encode(ins), RandomRegs(rng), SF | ZF | AF | PF, false);
    }

    private static Case BitTest(Random rng, string op)
    {
        bool w16 = rng.Next(2) == 0;
        var regs = RandomRegs(rng);
        Register d = w16 ? Register.AX : Register.EAX, s = w16 ? Register.BX : Register.EBX;
        string cap = char.ToUpper(op[0]) + op[1..];
        Instruction ins = rng.Next(2) == 0
            ? Instruction.Create(Enum.Parse<Code>($"{cap}_rm{(w16 ? 16 : 32)}_r{(w16 ? 16 : 32)}"), d, s)
            : Instruction.Create(Enum.Parse<Code>($"{cap}_rm{(w16 ? 16 : 32)}_imm8"), d, rng.Next(256));
        return new Case(Encode(ins), regs, OF | SF | AF | PF, false);
    }

    private static Case Scan(Random rng, string op)
    {
        bool w16 = rng.Next(2) == 0;
        var regs = RandomRegs(rng);
        if (rng.Next(4) == 0) regs[1] = 0;
        Register d = w16 ? Register.AX : Register.EAX, s = w16 ? Register.BX : Register.EBX;
        var code = op == "bsf" ? (w16 ? Code.Bsf_r16_rm16 : Code.Bsf_r32_rm32) : (w16 ? Code.Bsr_r16_rm16 : Code.Bsr_r32_rm32);
        bool zero = (w16 ? regs[1] & 0xFFFF : regs[1]) == 0;
        return new Case(Encode(Instruction.Create(code, d, s)), regs, CF | OF | SF | AF | PF, zero);
    }

    private static Case Conditional(Random rng, string op)
    {
        var regs = RandomRegs(rng);
        int cc = rng.Next(16);
        string[] names = { "o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g" };
        Instruction ins = op == "setcc"
            ? Instruction.Create(Enum.Parse<Code>($"Set{names[cc]}_rm8"), Register.AL)
            : rng.Next(2) == 0
                ? Instruction.Create(Enum.Parse<Code>($"Cmov{names[cc]}_r32_rm32"), Register.EAX, Register.EBX)
                : Instruction.Create(Enum.Parse<Code>($"Cmov{names[cc]}_r16_rm16"), Register.AX, Register.BX);
        return new Case(Encode(ins), regs, 0, false);
    }

    private static Case Misc(Random rng)
    {
        var regs = RandomRegs(rng);
        Instruction ins = rng.Next(12) switch
        {
            0 => Instruction.Create(Code.Bswap_r32, Register.EBX),
            1 => Instruction.Create(Code.Movsx_r32_rm8, Register.EAX, Register.BH),
            2 => Instruction.Create(Code.Movzx_r32_rm16, Register.EAX, Register.BX),
            3 => Instruction.Create(Code.Movsx_r16_rm8, Register.AX, Register.CL),
            4 => Instruction.Create(Code.Cwde),
            5 => Instruction.Create(Code.Cdq),
            6 => Instruction.Create(Code.Cbw),
            7 => Instruction.Create(Code.Lahf),
            8 => Instruction.Create(Code.Sahf),
            9 => Instruction.Create(Code.Cmc),
            10 => Instruction.Create(Code.Xchg_rm32_r32, Register.EBX, Register.ECX),
            _ => Instruction.Create(Code.Lea_r32_m, Register.EAX, new MemoryOperand(Register.EBX, Register.ECX, 4, 0x1234, 4)),
        };
        return new Case(Encode(ins), regs, 0, false);
    }

    private static readonly Dictionary<string, Func<Random, Case>> Families = new()
    {
        ["add"] = r => Alu(r, "add"), ["adc"] = r => Alu(r, "adc"), ["sub"] = r => Alu(r, "sub"), ["sbb"] = r => Alu(r, "sbb"),
        ["and"] = r => Alu(r, "and"), ["or"] = r => Alu(r, "or"), ["xor"] = r => Alu(r, "xor"), ["cmp"] = r => Alu(r, "cmp"),
        ["test"] = r => Alu(r, "test"), ["xadd"] = r => Alu(r, "xadd"), ["cmpxchg"] = r => Alu(r, "cmpxchg"),
        ["alu-imm"] = r => AluImm(r, new[] { "add", "sub", "cmp" }[r.Next(3)]),
        ["inc-dec-neg-not"] = r => Unary(r, new[] { "inc", "dec", "neg", "not" }[r.Next(4)]),
        ["shl"] = r => ShiftRotate(r, "shl"), ["shr"] = r => ShiftRotate(r, "shr"), ["sar"] = r => ShiftRotate(r, "sar"),
        ["rol"] = r => ShiftRotate(r, "rol"), ["ror"] = r => ShiftRotate(r, "ror"),
        ["rcl"] = r => ShiftRotate(r, "rcl"), ["rcr"] = r => ShiftRotate(r, "rcr"),
        ["shld"] = r => DoubleShift(r, "shld"), ["shrd"] = r => DoubleShift(r, "shrd"),
        ["mul"] = r => MulDiv(r, "mul"), ["imul"] = r => MulDiv(r, "imul"), ["div"] = r => MulDiv(r, "div"), ["idiv"] = r => MulDiv(r, "idiv"),
        ["imul-2-3"] = ImulMulti,
        ["bt"] = r => BitTest(r, "bt"), ["bts"] = r => BitTest(r, "bts"), ["btr"] = r => BitTest(r, "btr"), ["btc"] = r => BitTest(r, "btc"),
        ["bsf"] = r => Scan(r, "bsf"), ["bsr"] = r => Scan(r, "bsr"),
        ["setcc"] = r => Conditional(r, "setcc"), ["cmovcc"] = r => Conditional(r, "cmovcc"),
        ["misc"] = Misc,
    };

    public static IEnumerable<string> FamilyNames => Families.Keys;

    [TestCaseSource(nameof(FamilyNames))]
    public void AgreesWithTheHost(string family)
    {
        var rng = new Random(family.GetHashCode(StringComparison.Ordinal) & 0xFFFF ^ family.Length * 7919);
        var cases = Enumerable.Range(0, 400).Select(_ => Families[family](rng)).ToList();

        var input = new StringBuilder();
        foreach (var c in cases)
            input.Append(Convert.ToHexString(HostStub(c.Bytes))).Append(' ')
                 .AppendJoin(' ', c.Regs.Select(v => v.ToString("x", CultureInfo.InvariantCulture))).Append('\n');
        var (code, stdout, stderr) = ExternalTool.Run(Helper(), Array.Empty<string>(), Encoding.ASCII.GetBytes(input.ToString()));
        Assert.That(code, Is.Zero, $"host runner failed: {stderr}");
        var host = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(host, Has.Length.EqualTo(cases.Count));

        var m = new FlatMachine();
        m.Load(a => { a.mov(__dword_ptr[S + 32], 8); a.hlt(); }, 0x3000);   // #DE: SIGFPE's number
        m.SetGate(0, 0x3000);
        var report = new StringBuilder();
        int bad = 0;
        for (int k = 0; k < cases.Count; k++)
        {
            var c = cases[k];
            m.Load(a =>
            {
                a.mov(eax, __dword_ptr[S]); a.mov(ebx, __dword_ptr[S + 4]); a.mov(ecx, __dword_ptr[S + 8]);
                a.mov(edx, __dword_ptr[S + 12]); a.mov(esi, __dword_ptr[S + 16]); a.mov(edi, __dword_ptr[S + 20]);
                a.mov(ebp, __dword_ptr[S + 24]);
                a.push(__dword_ptr[S + 28]); a.popfd();
                a.db(c.Bytes);
                a.pushfd(); a.pop(__dword_ptr[S + 28]);
                a.mov(__dword_ptr[S], eax); a.mov(__dword_ptr[S + 4], ebx); a.mov(__dword_ptr[S + 8], ecx);
                a.mov(__dword_ptr[S + 12], edx); a.mov(__dword_ptr[S + 16], esi); a.mov(__dword_ptr[S + 20], edi);
                a.mov(__dword_ptr[S + 24], ebp);
                a.hlt();
            });
            for (int r = 0; r < 8; r++) m.Write32(S + (uint)r * 4, c.Regs[r]);
            m.Write32(S + 32, 0);
            m.Cpu.SetRegister(Emulator.Cpu.Register32.Esp, FlatMachine.StackTop);
            m.Run();
            string ours;
            if (m.Read32(S + 32) == 8) ours = "fault 8";
            else
            {
                var v = Enumerable.Range(0, 8).Select(r => m.Read32(S + (uint)r * 4)).ToArray();
                ours = string.Join(' ', v.Select(x => x.ToString("x", CultureInfo.InvariantCulture)));
            }
            if (Same(ours, host[k], c)) continue;
            if (++bad <= 8)
                report.AppendLine($"{Disassemble(c.Bytes)} from [{string.Join(' ', c.Regs.Select(x => x.ToString("x")))}]: ours [{ours}], host [{host[k]}]");
        }
        Assert.That(bad, Is.Zero, $"{bad} of {cases.Count} differ from the host:\n{report}");
    }

    private static bool Same(string ours, string host, Case c)
    {
        if (ours.StartsWith("fault") || host.StartsWith("fault")) return ours == host;
        var o = ours.Split(' ').Select(x => uint.Parse(x, NumberStyles.HexNumber)).ToArray();
        var h = host.Split(' ').Select(x => uint.Parse(x, NumberStyles.HexNumber)).ToArray();
        for (int r = 0; r < 7; r++)
            if (o[r] != h[r] && !c.ResultUndefined) return false;
        uint mask = ArithFlags & ~c.Undefined;
        return (o[7] & mask) == (h[7] & mask);
    }

    private static string Disassemble(byte[] bytes)
    {
        var d = Iced.Intel.Decoder.Create(32, new ByteArrayCodeReader(bytes));
        d.Decode(out var ins);
        return ins.ToString();
    }
}
