using System.Runtime.InteropServices;

namespace Emulator.Cpu;

/// <summary>
/// One decoded instruction with everything its handler needs precomputed: the handler itself, register
/// numbers, the memory operand's parts and the immediates. Decoded once per block (see <see cref="Block"/>),
/// executed many times; the handler never looks at Iced's operand model.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Insn
{
    /// <summary>Returns <see cref="X86Cpu.Next"/>, <see cref="X86Cpu.Exit"/> (EIP set, leave the block) or
    /// <see cref="X86Cpu.Fault"/> (an exception is pending; EIP is rolled back to the instruction).</summary>
    public delegate*<X86Cpu, ref Insn, int> Fn;
    /// <summary>Displacement of the memory operand.</summary>
    public uint Disp;
    /// <summary>Immediate, branch displacement (target minus next EIP) or far offset.</summary>
    public uint Imm;
    /// <summary>0xFFFF for 16-bit addressing, 0xFFFFFFFF for 32-bit.</summary>
    public uint AddrMask;
    public byte Len;
    /// <summary>Register operand (ModRM.reg): GPR number, or byte offset in the register file for 8-bit registers.</summary>
    public byte Reg;
    /// <summary>Register form of ModRM.rm, encoded like <see cref="Reg"/>.</summary>
    public byte Rm;
    /// <summary>Segment of the memory operand (ES=0 CS SS DS FS GS).</summary>
    public byte Seg;
    /// <summary>Base register of the memory operand, or <see cref="X86Cpu.ZeroReg"/>.</summary>
    public byte Base;
    public byte Index;
    public byte Scale;
    /// <summary>Handler-specific: condition code, operand size, sub-operation.</summary>
    public byte Op;
    /// <summary>Second immediate: far selector, ENTER nesting level.</summary>
    public ushort Imm2;
    /// <summary>Iced's <c>Code</c>, for diagnostics.</summary>
    public ushort Code;
}

/// <summary>A straight-line run of decoded instructions inside one 4 KiB physical page, cached by the physical
/// address of its first byte and the code size it was decoded for.</summary>
internal sealed class Block
{
    public Insn[] Ops = Array.Empty<Insn>();
    public int Count;
    public uint Phys;
    /// <summary>Decoding mode: 1 for a 32-bit code segment.</summary>
    public uint Mode;
    /// <summary>Bytes covered, from the first instruction's first byte.</summary>
    public uint ByteLength;
    public bool Valid;
    /// <summary>Not in the cache (crosses a page or comes from non-RAM memory): decoded for one execution.</summary>
    public bool Transient;
    public Block? HashNext;
    public Block? PageNext;
    /// <summary>Recent successors in the same page (chaining; see X86Cpu.FetchBlock).</summary>
    public Block? Link0, Link1;
}
