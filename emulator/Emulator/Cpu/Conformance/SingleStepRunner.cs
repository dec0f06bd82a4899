using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Emulator.Bus;
using Iced.Intel;

namespace Emulator.Cpu.Conformance;

/// <summary>Results for one vector file (one opcode form).</summary>
public sealed class FileResult
{
    public required string File { get; init; }
    public string Mnemonic { get; set; } = "";
    public int Passed, Failed, Excluded;
    /// <summary>Why tests were excluded, with counts.</summary>
    public Dictionary<string, int> Exclusions { get; } = new();
    /// <summary>A few failures, described, for the report.</summary>
    public List<string> FailureSamples { get; } = new();
}

public sealed class ConformanceReport
{
    public List<FileResult> Files { get; } = new();
    public int Passed => Files.Sum(f => f.Passed);
    public int Failed => Files.Sum(f => f.Failed);
    public int Excluded => Files.Sum(f => f.Excluded);
    public double PassRate => Passed + Failed == 0 ? 0 : (double)Passed / (Passed + Failed);

    /// <summary>The per-opcode table, the exclusions with their reasons, and the closing "N passed, M failed"
    /// line (with <paramref name="summaryPrefix"/> before it, e.g. inside a test log).</summary>
    public void Print(TextWriter w, int failureSamples = 3, string summaryPrefix = "")
    {
        w.WriteLine($"{"file",-10} {"mnemonic",-10} {"passed",7} {"failed",7} {"excluded",9}");
        foreach (var f in Files)
        {
            w.WriteLine($"{f.File,-10} {f.Mnemonic,-10} {f.Passed,7} {f.Failed,7} {f.Excluded,9}");
            foreach (var s in f.FailureSamples.Take(failureSamples)) w.WriteLine($"    {s}");
        }
        var reasons = new Dictionary<string, int>();
        foreach (var f in Files)
            foreach (var (r, n) in f.Exclusions) reasons[r] = reasons.GetValueOrDefault(r) + n;
        if (reasons.Count > 0)
        {
            w.WriteLine("excluded:");
            foreach (var (r, n) in reasons.OrderByDescending(p => p.Value)) w.WriteLine($"  {n,6}  {r}");
        }
        w.WriteLine($"pass rate {PassRate:P3} of {Passed + Failed} compared tests ({Excluded} excluded)");
        w.WriteLine($"{summaryPrefix}{Passed} passed, {Failed} failed");
    }
}

/// <summary>
/// Runs SingleStepTests captures (the 80286 real-mode set and the 80386 schema, see the data's README.md) on
/// <see cref="X86Cpu"/>: load the state, execute from CS:IP until the HLT that ends every test has executed,
/// compare registers and memory. Flags that Intel documents as undefined for the instruction are masked, and
/// the tests where a 286 legitimately differs from an i686 are excluded, each with its reason (see
/// <see cref="Exclusion"/>). A test that would run away is stopped after a fixed number of instructions.
/// </summary>
public sealed class SingleStepRunner
{
    private const uint RamSize = 16u << 20;
    private readonly MemoryBus bus = new(RamSize);
    private readonly X86Cpu cpu;
    private readonly List<uint> touched = new();

    // Exclusion reasons: where an 80286 legitimately differs from an i686 (README of the data set).
    public const string ReasonLength = "instruction longer than 10 bytes: the 286 faults, an i686 allows up to 15 bytes (SDM Vol. 2, 2.3.11)";
    public const string ReasonFsGs = "MOV to/from Sreg 4 or 5: #UD on the 286, FS/GS on the 386 and later";
    public const string ReasonLock = "LOCK prefix on an instruction that does not allow it: executed by the 286, #UD on the 386 and later (SDM Vol. 2, LOCK)";
    public const string ReasonNotRestartable = "fault after the 286 had already changed registers (string SI/DI, POP m SP): 386+ faults are restartable (SDM Vol. 3, 6.5)";

    public SingleStepRunner()
    {
        cpu = new X86Cpu(bus, new IoPortBus(), new InterruptPin());
    }

    /// <summary>Runs every vector file (*.jsonl.gz, *.jsonl) in a directory.</summary>
    public ConformanceReport RunDirectory(string dir, Action<FileResult>? progress = null)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"test-vector directory '{dir}' does not exist");
        var files = Directory.GetFiles(dir).Where(f => f.EndsWith(".jsonl.gz") || f.EndsWith(".jsonl"))
            .OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new FileNotFoundException($"no *.jsonl.gz or *.jsonl vector files in '{dir}'");
        var report = new ConformanceReport();
        foreach (var f in files)
        {
            FileResult r;
            try { r = RunFile(f); }
            catch (InvalidDataException e) when (!e.Message.StartsWith(f, StringComparison.Ordinal))
            {
                throw new InvalidDataException($"{f}: {e.Message}");
            }
            report.Files.Add(r);
            progress?.Invoke(r);
        }
        return report;
    }

    public FileResult RunFile(string path)
    {
        string name = Path.GetFileName(path);
        name = name.EndsWith(".jsonl.gz") ? name[..^9] : name[..^6];
        var result = new FileResult { File = name };
        using Stream raw = File.OpenRead(path);
        using Stream s = path.EndsWith(".gz") ? new GZipStream(raw, CompressionMode.Decompress) : raw;
        using var reader = new StreamReader(s, Encoding.UTF8);
        JsonElement? fileMasks = null;
        string? line;
        int lineNo = 0;
        while ((line = reader.ReadLine()) != null)
        {
            lineNo++;
            if (line.Length == 0) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{lineNo}: not a JSON test ({e.Message})"); }
            using (doc)
            {
                var t = doc.RootElement;
                if (t.TryGetProperty("file_masks", out var fm) && fm.ValueKind == JsonValueKind.Object) fileMasks = fm.Clone();
                if (!t.TryGetProperty("initial", out _)) continue;
                if (result.Mnemonic.Length == 0 && t.TryGetProperty("name", out var nm) && nm.ValueKind == JsonValueKind.String)
                    result.Mnemonic = (nm.GetString() ?? "").Split(' ')[0];
                try
                {
                    RunTest(t, fileMasks, result);
                }
                catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException
                                              or IndexOutOfRangeException or OverflowException or ArgumentException)
                {
                    throw new InvalidDataException($"{path}:{lineNo}: not a test in the SingleStepTests schema ({e.Message})");
                }
            }
        }
        return result;
    }

    private void RunTest(JsonElement t, JsonElement? fileMasks, FileResult result)
    {
        byte[] bytes = t.GetProperty("bytes").EnumerateArray().Select(e => (byte)e.GetInt32()).ToArray();
        var initRegs = t.GetProperty("initial").GetProperty("regs");
        bool is386 = initRegs.TryGetProperty("eax", out _);
        var exc = t.TryGetProperty("exception", out var ex) ? ex : (JsonElement?)null;
        int expectedVector = exc is { } e1 ? e1.GetProperty("number").GetInt32() : -1;

        var decoded = DecodeFirst(bytes);
        string? why = is386 ? null : Exclusion(bytes, decoded, expectedVector, initRegs, t.GetProperty("final").GetProperty("regs"));
        if (why != null)
        {
            result.Excluded++;
            result.Exclusions[why] = result.Exclusions.GetValueOrDefault(why) + 1;
            return;
        }

        // Load memory and registers.
        touched.Clear();
        foreach (var p in t.GetProperty("initial").GetProperty("ram").EnumerateArray())
        {
            uint a = p[0].GetUInt32();
            bus.Write8(a, (byte)p[1].GetInt32());
            touched.Add(a);
        }
        cpu.Reset();
        LoadRegisters(initRegs, is386);
        var exit = cpu.Run(64);
        string? diff = exit != CpuExit.Halted ? $"did not reach the final HLT ({exit})" : null;

        // Expected state: initial registers overlaid with the final ones.
        var expected = new Dictionary<string, uint>();
        foreach (var p in initRegs.EnumerateObject()) expected[p.Name] = p.Value.GetUInt32();
        foreach (var p in t.GetProperty("final").GetProperty("regs").EnumerateObject()) expected[p.Name] = p.Value.GetUInt32();
        uint flagMask = UndefinedFlags(decoded, t, is386);
        // #DE ends DIV, IDIV and AAM before a result exists: every arithmetic flag is undefined.
        if (expectedVector == 0) flagMask |= 0x8D5;
        JsonElement? masks = t.GetProperty("final").TryGetProperty("masks", out var m) ? m : fileMasks;

        if (diff == null)
        {
            foreach (var (reg, want) in expected)
            {
                if (!TryReadRegister(reg, is386, out uint got)) continue;
                uint mask = RegisterMask(reg, is386);
                if (reg is "flags" or "eflags")
                {
                    mask &= ~flagMask;
                    if (!is386 && decoded.Mnemonic is Mnemonic.Popf or Mnemonic.Iret) mask &= ~0xF000u;
                }
                if (masks is { } mk && mk.TryGetProperty(reg, out var mv)) mask &= mv.GetUInt32();
                if ((got & mask) != (want & mask))
                {
                    diff = $"{reg}: got {got:X4}, expected {want:X4}";
                    break;
                }
            }
        }
        if (diff == null)
        {
            uint flagAddr = exc is { } e2 && e2.TryGetProperty("flag_address", out var fa) ? fa.GetUInt32() : uint.MaxValue;
            if (flagAddr != uint.MaxValue && !is386)
            {
                // The captures' flag_address is one byte low when SP is odd; the FLAGS image is the first word
                // pushed, at SS:SP-2 of the faulting instruction.
                uint pushed = (initRegs.GetProperty("ss").GetUInt32() << 4) + ((initRegs.GetProperty("sp").GetUInt32() - 2) & 0xFFFF);
                if (pushed == flagAddr + 1) flagAddr = pushed;
            }
            foreach (var p in t.GetProperty("final").GetProperty("ram").EnumerateArray())
            {
                uint a = p[0].GetUInt32();
                byte want = (byte)p[1].GetInt32();
                byte got = bus.Ram[a];
                byte mask = 0xFF;
                if (a == flagAddr) mask = (byte)~flagMask;
                else if (a == flagAddr + 1) mask = (byte)(~flagMask >> 8);
                touched.Add(a);
                if ((got & mask) != (want & mask))
                {
                    diff = $"ram[{a:X6}]: got {got:X2}, expected {want:X2}";
                    break;
                }
            }
        }
        // Clear what the test touched (the next test expects zeroed RAM).
        foreach (uint a in touched) bus.Write8(a, 0);
        foreach (var p in t.GetProperty("final").GetProperty("ram").EnumerateArray()) bus.Write8(p[0].GetUInt32(), 0);

        if (diff == null) { result.Passed++; return; }
        result.Failed++;
        if (result.FailureSamples.Count < 10)
        {
            string tname = t.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "";
            int idx = t.TryGetProperty("idx", out var ix) ? ix.GetInt32() : -1;
            result.FailureSamples.Add($"#{idx} {tname} [{Convert.ToHexString(bytes)}]: {diff}");
        }
    }

    private static Instruction DecodeFirst(byte[] bytes)
    {
        var d = Iced.Intel.Decoder.Create(16, new ByteArrayCodeReader(bytes));
        d.Decode(out Instruction ins);
        return ins;
    }

    /// <summary>The reason a 286 capture does not apply to an i686, or null.</summary>
    public static string? Exclusion(byte[] bytes, in Instruction decoded, int expectedVector, JsonElement initial, JsonElement final)
    {
        int len = bytes.Length - 1;                 // without the HLT that ends every test
        if (len > 10 && expectedVector >= 0) return ReasonLength;
        int k = 0;
        bool hasLock = false;
        while (k < len && bytes[k] is 0x26 or 0x2E or 0x36 or 0x3E or 0xF0 or 0xF2 or 0xF3)
        {
            if (bytes[k] == 0xF0) hasLock = true;
            k++;
        }
        if (k < len - 1 && bytes[k] is 0x8C or 0x8E && ((bytes[k + 1] >> 3) & 7) is 4 or 5) return ReasonFsGs;
        if (hasLock && decoded.IsInvalid && expectedVector != 6) return ReasonLock;
        if (expectedVector >= 0)
        {
            // An exception frame leaves only CS, IP, FLAGS and SP (lowered by 6) changed on a restartable fault.
            foreach (var p in final.EnumerateObject())
            {
                if (p.Name is "cs" or "ip" or "flags") continue;
                if (p.Name == "sp" && p.Value.GetUInt32() == ((initial.GetProperty("sp").GetUInt32() - 6) & 0xFFFF)) continue;
                return ReasonNotRestartable;
            }
        }
        return null;
    }

    /// <summary>Flags Intel documents as undefined after the instruction (SDM Vol. 2, each instruction's
    /// "Flags Affected").</summary>
    private static uint UndefinedFlags(in Instruction ins, JsonElement t, bool is386)
    {
        const uint CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
        switch (ins.Mnemonic)
        {
            case Mnemonic.And: case Mnemonic.Or: case Mnemonic.Xor: case Mnemonic.Test:
                return AF;
            case Mnemonic.Mul: case Mnemonic.Imul:
                return SF | ZF | AF | PF;
            case Mnemonic.Div: case Mnemonic.Idiv:
                return CF | PF | AF | ZF | SF | OF;
            case Mnemonic.Daa: case Mnemonic.Das:
                return OF;
            case Mnemonic.Aaa: case Mnemonic.Aas:
                return OF | SF | ZF | PF;
            case Mnemonic.Aam: case Mnemonic.Aad:
                return OF | AF | CF;
            case Mnemonic.Shl: case Mnemonic.Sal: case Mnemonic.Shr: case Mnemonic.Sar:
            case Mnemonic.Rol: case Mnemonic.Ror: case Mnemonic.Rcl: case Mnemonic.Rcr:
            {
                uint count = ShiftCount(ins, t, is386);
                bool shift = ins.Mnemonic is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar;
                uint m = 0;
                if (count != 1) m |= OF;
                if (shift && count != 0) m |= AF;
                // CF after SHL/SHR by at least the operand width is undefined.
                int width = ins.Op0Kind == OpKind.Register ? ins.Op0Register.GetSize() : ins.MemorySize.GetSize();
                if (shift && count >= width * 8) m |= CF;
                return m;
            }
        }
        return 0;
    }

    private static uint ShiftCount(in Instruction ins, JsonElement t, bool is386)
    {
        uint raw;
        if (ins.Op1Kind == OpKind.Register)
        {
            var regs = t.GetProperty("initial").GetProperty("regs");
            raw = is386 ? regs.GetProperty("ecx").GetUInt32() : regs.GetProperty("cx").GetUInt32();
        }
        else raw = ins.Immediate8;
        return raw & 31;
    }

    private void LoadRegisters(JsonElement regs, bool is386)
    {
        uint Get(string n) => regs.TryGetProperty(n, out var v) ? v.GetUInt32() : 0;
        string[] gpr = is386
            ? new[] { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" }
            : new[] { "ax", "cx", "dx", "bx", "sp", "bp", "si", "di" };
        for (int r = 0; r < 8; r++) cpu.SetRegister((Register32)r, Get(gpr[r]));
        string[] segs = { "es", "cs", "ss", "ds", "fs", "gs" };
        for (int s = 0; s < 6; s++)
        {
            ushort sel = (ushort)Get(segs[s]);
            cpu.SetSegment((SegmentRegister)s, sel, (uint)sel << 4, 0xFFFF, s == 1 ? (ushort)0x9B : (ushort)0x93);
        }
        cpu.Eip = is386 ? Get("eip") : Get("ip");
        // 286: flag bits 12-15 cannot be set in real mode (README); 386: the upper half is a dump artefact.
        cpu.Eflags = is386 ? Get("eflags") & 0xFFFF : Get("flags") & 0x0FFF;
    }

    private bool TryReadRegister(string name, bool is386, out uint v)
    {
        v = 0;
        switch (name)
        {
            case "ax": case "eax": v = cpu.GetRegister(Register32.Eax); break;
            case "cx": case "ecx": v = cpu.GetRegister(Register32.Ecx); break;
            case "dx": case "edx": v = cpu.GetRegister(Register32.Edx); break;
            case "bx": case "ebx": v = cpu.GetRegister(Register32.Ebx); break;
            case "sp": case "esp": v = cpu.GetRegister(Register32.Esp); break;
            case "bp": case "ebp": v = cpu.GetRegister(Register32.Ebp); break;
            case "si": case "esi": v = cpu.GetRegister(Register32.Esi); break;
            case "di": case "edi": v = cpu.GetRegister(Register32.Edi); break;
            case "es": v = cpu.GetSelector(SegmentRegister.ES); break;
            case "cs": v = cpu.GetSelector(SegmentRegister.CS); break;
            case "ss": v = cpu.GetSelector(SegmentRegister.SS); break;
            case "ds": v = cpu.GetSelector(SegmentRegister.DS); break;
            case "fs": v = cpu.GetSelector(SegmentRegister.FS); break;
            case "gs": v = cpu.GetSelector(SegmentRegister.GS); break;
            case "ip": case "eip": v = cpu.Eip; break;
            case "flags": case "eflags": v = cpu.Eflags; break;
            default: return false;              // cr0, cr3, dr6, dr7: dump artefacts
        }
        return true;
    }

    private static uint RegisterMask(string name, bool is386) => name switch
    {
        "eflags" => 0x3FFFF,
        "flags" => 0xFFFF,
        _ when !is386 => 0xFFFF,
        "es" or "cs" or "ss" or "ds" or "fs" or "gs" => 0xFFFF,
        _ => 0xFFFF_FFFF,
    };
}
