using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Cpu.Tests.UserMode;
using Emulator.Bus;
using Emulator.Cpu;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Benchmarks.Cpu;

/// <summary>Guest instructions per benchmark invocation, for the MIPS column.</summary>
internal static class GuestInstructions
{
    public static readonly Dictionary<string, long> PerInvocation = new();
}

/// <summary>Million guest instructions per second: instructions of one invocation over its mean time.</summary>
public sealed class MipsColumn : IColumn
{
    public string Id => "MIPS";
    public string ColumnName => "Guest MIPS";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "million guest instructions per second (instructions per invocation / mean time)";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        string name = benchmarkCase.Descriptor.WorkloadMethod.Name;
        if (report?.ResultStatistics == null || !GuestInstructions.PerInvocation.TryGetValue(name, out long n)) return "-";
        return (n / report.ResultStatistics.Mean * 1e3).ToString("F1");
    }
}

/// <summary>In-process runs (the machine has two shared cores), with the MIPS column.</summary>
public sealed class CpuBenchmarkConfig : ManualConfig
{
    public CpuBenchmarkConfig()
    {
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(2).WithIterationCount(6).WithId("cpu"));
        AddColumn(new MipsColumn());
    }
}

/// <summary>
/// Guest MIPS of the interpreter on loops: register ALU code, ALU code with memory operands (no paging), and
/// memory-heavy loops with paging on, once sequential (TLB hits) and once with a page stride over 64 MiB
/// (every access a TLB miss and a page walk). Each invocation runs a fixed instruction budget.
/// </summary>
[Config(typeof(CpuBenchmarkConfig))]
public class CpuLoopBenchmarks
{
    private const long Budget = 20_000_000;
    private X86Cpu alu = null!, mixed = null!, pagedSeq = null!, pagedStride = null!;

    private static X86Cpu FlatCpu(MemoryBus bus, Action<Assembler> code, bool paging)
    {
        var cpu = new X86Cpu(bus, new IoPortBus(), new InterruptPin());
        cpu.Cr0 = 0x11;
        cpu.SetSegment(SegmentRegister.CS, 0x08, 0, 0xFFFF_FFFF, 0xC09B);
        foreach (var s in new[] { SegmentRegister.DS, SegmentRegister.ES, SegmentRegister.SS })
            cpu.SetSegment(s, 0x10, 0, 0xFFFF_FFFF, 0xC093);
        var a = new Assembler(32);
        code(a);
        var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x1000);
        bus.Load(0x1000, ms.ToArray());
        cpu.Eip = 0x1000;
        cpu.SetRegister(Register32.Esp, 0x80000);
        if (paging)
        {
            // Linear 0x400000 + n*4K -> physical 0x800000 + n*4K for 64 MiB; the first 4 MiB identity-mapped.
            const uint pd = 0x100000, pts = 0x101000;
            for (uint t = 0; t < 17; t++) bus.Write32(pd + t * 4, (pts + t * 0x1000) | 3);
            for (uint p = 0; p < 17 * 1024; p++)
                bus.Write32(pts + p * 4, (p < 1024 ? p << 12 : 0x80_0000 + ((p - 1024) << 12)) | 3);
            cpu.Cr3 = pd;
            cpu.Cr0 = 0x8000_0011;
        }
        return cpu;
    }

    [GlobalSetup]
    public void Setup()
    {
        alu = FlatCpu(new MemoryBus(4u << 20), a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.add(eax, ecx); a.xor(edx, eax); a.shl(edx, 1); a.sub(ebx, edx); a.and(ebx, 0x7FFF_FFFF);
            a.inc(ecx); a.cmp(ecx, 0x7FFF_FFFF); a.jne(top);
            a.jmp(top);
        }, false);
        mixed = FlatCpu(new MemoryBus(4u << 20), a =>
        {
            var top = a.CreateLabel();
            a.mov(esi, 0x10_0000);
            a.Label(ref top);
            a.add(eax, ecx); a.mov(ebx, __dword_ptr[esi + 4]); a.add(ebx, eax); a.mov(__dword_ptr[esi + 4], ebx);
            a.push(ebx); a.pop(edx); a.xor(edx, eax);
            a.inc(ecx); a.and(ecx, 0xFFF); a.jmp(top);
        }, false);
        pagedSeq = FlatCpu(new MemoryBus(96u << 20), a => PagedWalk(a, 4), true);
        pagedStride = FlatCpu(new MemoryBus(96u << 20), a => PagedWalk(a, 4096 + 4), true);
        foreach (var n in new[] { nameof(RegisterAlu), nameof(AluWithMemory), nameof(PagedMemorySequential), nameof(PagedMemoryPageStride) })
            GuestInstructions.PerInvocation[n] = Budget;
    }

    /// <summary>Reads, modifies and writes a dword every <paramref name="stride"/> bytes of 64 MiB at 0x400000.</summary>
    private static void PagedWalk(Assembler a, int stride)
    {
        var top = a.CreateLabel();
        var wrap = a.CreateLabel();
        a.mov(esi, 0x40_0000);
        a.Label(ref top);
        a.mov(eax, __dword_ptr[esi]);
        a.add(eax, ecx);
        a.mov(__dword_ptr[esi], eax);
        a.add(esi, stride);
        a.inc(ecx);
        a.cmp(esi, 0x440_0000 - 8);
        a.jb(top);
        a.Label(ref wrap);
        a.sub(esi, 0x400_0000 - 8);
        a.and(esi, 0xFFFF_FFFC);
        a.jmp(top);
    }

    [Benchmark] public CpuExit RegisterAlu() => alu.Run(Budget);
    [Benchmark] public CpuExit AluWithMemory() => mixed.Run(Budget);
    [Benchmark] public CpuExit PagedMemorySequential() => pagedSeq.Run(Budget);
    [Benchmark] public CpuExit PagedMemoryPageStride() => pagedStride.Run(Budget);
}

/// <summary>Guest MIPS on real compiled code: Debian's static busybox for i386 as a user-mode process (the
/// test suite's system-call layer), gzip -9 of 150 KB, md5sum of 300 KB, sort of 20,000 numbers.</summary>
[Config(typeof(BusyboxBenchmarkConfig))]
public class CpuBusyboxBenchmarks
{
    private byte[] busybox = null!, data = null!, numbers = null!;
    private string root = null!;
    private LinuxProcess process = null!;

    public sealed class BusyboxBenchmarkConfig : ManualConfig
    {
        public BusyboxBenchmarkConfig()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithInvocationCount(1).WithUnrollFactor(1)
                .WithWarmupCount(2).WithIterationCount(8).WithId("busybox"));
            AddColumn(new MipsColumn());
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir != null && !File.Exists(Path.Combine(dir, "guest-images", "fetch-busybox.sh"))) dir = Path.GetDirectoryName(dir);
        string path = Path.Combine(dir ?? ".", "guest-images", "build", "busybox-i386", "bin", "busybox");
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path} is missing: run guest-images/fetch-busybox.sh first");
        busybox = File.ReadAllBytes(path);
        var rng = new Random(5);
        data = new byte[300_000];
        for (int k = 0; k < data.Length; k++)
            data[k] = rng.Next(4) == 0 ? (byte)rng.Next(256) : (byte)"the quick brown fox jumps over the lazy dog "[k % 44];
        numbers = System.Text.Encoding.ASCII.GetBytes(string.Join("\n", Enumerable.Range(0, 20000).Select(i => (i * 7919 % 100003).ToString())));
        root = Path.Combine(Path.GetTempPath(), "cpu-bench-root");
        Directory.CreateDirectory(root);
    }

    private void Prepare(string[] args, byte[] stdin) =>
        process = new LinuxProcess(busybox, new[] { "busybox" }.Concat(args).ToArray(), stdin, root);

    private long Finish(string name)
    {
        if (!process.Run(10_000_000_000) || process.ExitCode != 0)
            throw new InvalidOperationException($"busybox {name} did not complete: {process.Crash}");
        GuestInstructions.PerInvocation[name] = process.Cpu.InstructionCount;
        return process.Cpu.InstructionCount;
    }

    [IterationSetup(Target = nameof(Gzip))] public void SetupGzip() => Prepare(new[] { "gzip", "-c", "-9" }, data.AsSpan(0, 150_000).ToArray());
    [Benchmark] public long Gzip() => Finish(nameof(Gzip));

    [IterationSetup(Target = nameof(Md5sum))] public void SetupMd5() => Prepare(new[] { "md5sum" }, data);
    [Benchmark] public long Md5sum() => Finish(nameof(Md5sum));

    [IterationSetup(Target = nameof(Sort))] public void SetupSort() => Prepare(new[] { "sort" }, numbers);
    [Benchmark] public long Sort() => Finish(nameof(Sort));
}
