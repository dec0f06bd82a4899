using System.Buffers.Binary;
using System.Text;
using Emulator.Bus;
using Emulator.Cpu;

namespace Cpu.Tests.UserMode;

/// <summary>
/// One Linux i386 process on the emulated CPU: loads a static ELF executable into a fresh address space,
/// builds the initial stack (argv, envp, auxv as the kernel does, SysV i386 ABI 3.4.1), runs it at CPL 3 and
/// serves its system calls. A system call travels as on a real machine: INT 0x80 through the IDT to ring 0,
/// where the stub's port write hands it to <see cref="LinuxSyscalls"/>, then IRETD back to ring 3. Standard
/// input comes from a byte array, standard output and error are collected, and files are read and written
/// below a sandbox directory that is the process's root and working directory.
/// </summary>
internal sealed class LinuxProcess : IPortDevice
{
    public const uint StackTop = 0xC000_0000, StackSize = 2u << 20, MmapTop = 0xB000_0000;

    public readonly UserModeMachine Machine = new();
    public readonly LinuxSyscalls Syscalls;
    public readonly MemoryStream Stdout = new(), Stderr = new();
    public int? ExitCode { get; internal set; }
    public string? Crash { get; private set; }

    public LinuxProcess(byte[] executable, IReadOnlyList<string> argv, byte[] stdin, string root)
    {
        var elf = new ElfImage(executable);
        uint end = 0;
        foreach (var s in elf.Segments)
        {
            for (uint p = s.VirtualAddress & 0xFFFF_F000; p < s.VirtualAddress + s.MemorySize; p += 0x1000)
                Machine.MapUser(p);
            Machine.WriteUser(s.VirtualAddress, executable.AsSpan((int)s.FileOffset, (int)s.FileSize));
            end = Math.Max(end, s.VirtualAddress + s.MemorySize);
        }
        uint brk = (end + 0xFFF) & 0xFFFF_F000;
        Syscalls = new LinuxSyscalls(this, root, stdin, brk, MmapTop);
        Machine.Io.Register(UserModeMachine.SyscallPort, 1, this);
        Machine.Io.Register(UserModeMachine.FaultPort, 1, this);
        for (uint p = StackTop - StackSize; p < StackTop; p += 0x1000) Machine.MapUser(p);
        uint sp = BuildStack(elf, argv);
        Machine.EnterUser(elf.Entry, sp);
    }

    public X86Cpu Cpu => Machine.Cpu;

    private uint BuildStack(ElfImage elf, IReadOnlyList<string> argv)
    {
        uint sp = StackTop;
        uint PushBytes(byte[] b)
        {
            sp -= (uint)b.Length;
            Machine.WriteUser(sp, b);
            return sp;
        }
        var argPtrs = new List<uint>();
        foreach (var a in argv) argPtrs.Add(PushBytes(Encoding.UTF8.GetBytes(a + "\0")));
        uint execfn = argPtrs.Count > 0 ? argPtrs[0] : 0;
        uint platform = PushBytes(Encoding.ASCII.GetBytes("i686\0"));
        uint random = PushBytes(Enumerable.Range(1, 16).Select(i => (byte)(i * 37)).ToArray());
        sp &= ~15u;
        var words = new List<uint> { (uint)argv.Count };
        words.AddRange(argPtrs);
        words.Add(0);                                   // end of argv
        words.Add(0);                                   // empty environment
        (uint, uint)[] auxv =
        {
            (3, elf.ProgramHeaderAddress), (4, 32), (5, (uint)elf.ProgramHeaderCount), (6, 4096), (7, 0), (8, 0),
            (9, elf.Entry), (11, 0), (12, 0), (13, 0), (14, 0), (16, X86Cpu.Features), (17, 100), (23, 0),
            (25, random), (31, execfn), (15, platform), (0, 0),
        };
        foreach (var (k, v) in auxv) { words.Add(k); words.Add(v); }
        sp -= (uint)words.Count * 4;
        sp &= ~15u;
        for (int k = 0; k < words.Count; k++) Machine.WriteU32(sp + (uint)k * 4, words[k]);
        return sp;
    }

    /// <summary>Runs until the process exits; false when it used up the budget first.</summary>
    public bool Run(long maxInstructions)
    {
        long end = Cpu.InstructionCount + maxInstructions;
        while (ExitCode == null)
        {
            long left = end - Cpu.InstructionCount;
            if (left <= 0) return false;
            var exit = Cpu.Run(Math.Min(left, 50_000_000));
            if (ExitCode != null) break;
            if (exit is CpuExit.Halted or CpuExit.Shutdown)
            {
                Crash ??= $"the CPU stopped ({exit}) at EIP {Cpu.Eip:X8}";
                ExitCode = 128 + 11;
            }
        }
        return true;
    }

    public uint In(ushort port, int size) => 0xFF;

    public void Out(ushort port, int size, uint value)
    {
        if (port == UserModeMachine.SyscallPort)
        {
            Syscalls.Dispatch();
            if (ExitCode != null) Cpu.RequestStop();
            return;
        }
        // An exception in the process: the ring-0 frame holds [error code] EIP CS EFLAGS ESP SS.
        int vector = (int)(value & 0xFF);
        uint esp = Cpu.GetRegister(Register32.Esp);
        bool hasError = vector is 8 or 10 or 11 or 12 or 13 or 14 or 17;
        uint frame = esp + (hasError ? 4u : 0u);
        Span<byte> b = stackalloc byte[4];
        Machine.Bus.DmaRead(frame, b);
        uint eip = BinaryPrimitives.ReadUInt32LittleEndian(b);
        uint err = 0;
        if (hasError) { Machine.Bus.DmaRead(esp, b); err = BinaryPrimitives.ReadUInt32LittleEndian(b); }
        Crash = $"exception {vector} (error code {err:X}) at EIP {eip:X8}, CR2 {Cpu.Cr2:X8}";
        ExitCode = 128 + (vector == 0 ? 8 : vector == 6 ? 4 : 11);   // SIGFPE, SIGILL, SIGSEGV
        Cpu.RequestStop();
    }
}
