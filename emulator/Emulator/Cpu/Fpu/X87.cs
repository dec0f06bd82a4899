namespace Emulator.Cpu.Fpu;

/// <summary>The x87 floating-point unit's state.</summary>
public sealed class X87
{
    private readonly X86Cpu cpu;
    internal X87(X86Cpu cpu) { this.cpu = cpu; }
    internal void Reset() { }
}

internal static class FpuOps
{
    public static int Wait(X86Cpu c, ref Insn i) => X86Cpu.Next;
}

internal static class FpuTranslator
{
    public static bool Build(in Iced.Intel.Instruction ins, ref Insn o) => false;
}
