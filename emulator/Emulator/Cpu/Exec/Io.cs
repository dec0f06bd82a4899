namespace Emulator.Cpu.Exec;

/// <summary>IN and OUT (SDM Vol. 2) through the I/O port bus. Port accesses end the block, so a device that
/// raises an interrupt or asks the loop to stop is seen at once.</summary>
internal static class Io
{
    /// <summary>Port from the immediate (Op 0) or DX (Op 1).</summary>
    private static ushort Port(X86Cpu c, ref Insn i) => i.Op != 0 ? c.R16(X86Cpu.EDX) : (ushort)i.Imm;

    public static int In<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        ushort port = Port(c, ref i);
        if (!c.CheckIoPermission(port, W.Bits / 8)) return X86Cpu.Fault;
        W.Set(c, 0, c.Io.In(port, W.Bits / 8));
        return X86Cpu.Exit;
    }

    public static int Out<W>(X86Cpu c, ref Insn i) where W : IWidth
    {
        ushort port = Port(c, ref i);
        if (!c.CheckIoPermission(port, W.Bits / 8)) return X86Cpu.Fault;
        c.Io.Out(port, W.Bits / 8, W.Get(c, 0));
        return X86Cpu.Exit;
    }
}
