using Emulator.Cpu.Exec;
using Iced.Intel;

namespace Emulator.Cpu;

using unsafe H = delegate*<X86Cpu, ref Insn, int>;

/// <summary>
/// Turns one Iced <see cref="Instruction"/> into an <see cref="Insn"/>: picks the handler specialised for the
/// operation, operand form and width, and precomputes register numbers, the memory operand and immediates.
/// Anything this CPU does not implement (SSE, MMX, later extensions, invalid encodings) gets the #UD handler.
/// Returns true when the block must end after the instruction (control transfers, mode changes, I/O).
/// </summary>
internal static unsafe class Translator
{
    public static bool Translate(in Instruction ins, ref Insn o, ReadOnlySpan<byte> bytes)
    {
        o = default;
        o.Len = (byte)ins.Length;
        o.Code = (ushort)ins.Code;
        o.AddrMask = 0xFFFF_FFFF;
        o.Base = o.Index = X86Cpu.ZeroReg;
        bool ends = ins.FlowControl != FlowControl.Next;
        if (ins.IsInvalid) { o.Fn = &SystemOps.Ud; return true; }
        if (!Build(in ins, ref o, ref ends) && !Fpu.FpuTranslator.Build(in ins, ref o, bytes))
        {
            o.Fn = &SystemOps.Ud;
            return true;
        }
        return ends;
    }

    /// <summary>
    /// Instructions that read the machine's clock (RDTSC, RDMSR for the TSC, IN/OUT to timer devices) start a
    /// block of their own and end it: the CPU adds a block's instructions to its count when the block ends, so
    /// only then does the clock, which is paced by that count, see every instruction before them. Two RDTSCs a
    /// few instructions apart then differ, as on hardware (Linux's entropy trial counts equal readings).
    /// </summary>
    public static bool ReadsTheClock(in Instruction ins) =>
        ins.Mnemonic is Mnemonic.Rdtsc or Mnemonic.Rdmsr or Mnemonic.In or Mnemonic.Out;

    // ---- operand helpers ------------------------------------------------------------------------------

    private static byte Gpr(Register r) => r.IsGPR8() ? (byte)X86Cpu.Reg8Offset(r.GetNumber()) : (byte)r.GetNumber();

    private static int RegWidth(Register r) => r.IsGPR8() ? 1 : r.IsGPR16() ? 2 : 4;

    private static int SegIndex(Register r) => r switch
    {
        Register.ES => X86Cpu.ES, Register.CS => X86Cpu.CS, Register.SS => X86Cpu.SS,
        Register.DS => X86Cpu.DS, Register.FS => X86Cpu.FS, Register.GS => X86Cpu.GS, _ => -1,
    };

    internal static void MemOperand(in Instruction ins, ref Insn o) => Mem(in ins, ref o);

    private static void Mem(in Instruction ins, ref Insn o)
    {
        o.Seg = (byte)SegIndex(ins.MemorySegment);
        var b = ins.MemoryBase;
        var x = ins.MemoryIndex;
        o.Base = b == Register.None ? (byte)X86Cpu.ZeroReg : (byte)b.GetNumber();
        o.Index = x == Register.None ? (byte)X86Cpu.ZeroReg : (byte)x.GetNumber();
        o.Scale = ins.MemoryIndexScale switch { 2 => 1, 4 => 2, 8 => 3, _ => 0 };
        o.Disp = ins.MemoryDisplacement32;
        bool a16 = b != Register.None ? b.IsGPR16() : x != Register.None ? x.IsGPR16() : ins.MemoryDisplSize == 2;
        o.AddrMask = a16 ? 0xFFFFu : 0xFFFF_FFFFu;
    }

    private static bool IsImm(OpKind k) => k is OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32
        or OpKind.Immediate8to16 or OpKind.Immediate8to32;

    private static uint Mask(int w) => w == 1 ? 0xFFu : w == 2 ? 0xFFFFu : 0xFFFF_FFFFu;

    private static int MemWidth(in Instruction ins) => ins.MemorySize.GetSize();

    private static int OpWidth(in Instruction ins, int n)
        => ins.GetOpKind(n) == OpKind.Register ? RegWidth(ins.GetOpRegister(n)) : MemWidth(ins);

    private static H Pick(int w, H h8, H h16, H h32) => w == 1 ? h8 : w == 2 ? h16 : h32;
    private static H Pick(int w, H h16, H h32) => w == 2 ? h16 : h32;

    private static int Cc(in Instruction ins) => (int)ins.ConditionCode - 1;

    private static bool IsReg(in Instruction ins, int n) => ins.GetOpKind(n) == OpKind.Register;
    private static bool IsMem(in Instruction ins, int n) => ins.GetOpKind(n) == OpKind.Memory;

    /// <summary>Relative branch: displacement from the next instruction and the EIP mask of the operand size.</summary>
    private static void Rel(in Instruction ins, ref Insn o)
    {
        bool b16 = ins.Op0Kind == OpKind.NearBranch16;
        ulong target = b16 ? ins.NearBranch16 : ins.NearBranch32;
        o.Disp = b16 ? 0xFFFFu : 0xFFFF_FFFFu;
        o.Imm = (uint)(target - ins.NextIP) & o.Disp;
    }

    private static bool Build(in Instruction ins, ref Insn o, ref bool ends)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Add: return Alu<OpAdd>(in ins, ref o);
            case Mnemonic.Or: return Alu<OpOr>(in ins, ref o);
            case Mnemonic.Adc: return Alu<OpAdc>(in ins, ref o);
            case Mnemonic.Sbb: return Alu<OpSbb>(in ins, ref o);
            case Mnemonic.And: return Alu<OpAnd>(in ins, ref o);
            case Mnemonic.Sub: return Alu<OpSub>(in ins, ref o);
            case Mnemonic.Xor: return Alu<OpXor>(in ins, ref o);
            case Mnemonic.Cmp: return Alu<OpCmp>(in ins, ref o);
            case Mnemonic.Test: return Alu<OpTest>(in ins, ref o);
            case Mnemonic.Inc: return Unary<OpInc>(in ins, ref o);
            case Mnemonic.Dec: return Unary<OpDec>(in ins, ref o);
            case Mnemonic.Not: return Unary<OpNot>(in ins, ref o);
            case Mnemonic.Neg: return Unary<OpNeg>(in ins, ref o);

            case Mnemonic.Mov: return Mov(in ins, ref o, ref ends);
            case Mnemonic.Movzx:
            case Mnemonic.Movsx:
                return Extend(in ins, ref o);
            case Mnemonic.Lea:
                Mem(in ins, ref o);
                o.Reg = Gpr(ins.Op0Register);
                o.Fn = Pick(RegWidth(ins.Op0Register), &Move.Lea<W16>, &Move.Lea<W32>);
                return true;
            case Mnemonic.Xchg: return TwoRegOrMem(in ins, ref o, &Move.XchgRR<W8>, &Move.XchgRR<W16>, &Move.XchgRR<W32>,
                &Move.XchgMR<W8>, &Move.XchgMR<W16>, &Move.XchgMR<W32>);
            case Mnemonic.Xadd: return TwoRegOrMem(in ins, ref o, &Move.XaddRR<W8>, &Move.XaddRR<W16>, &Move.XaddRR<W32>,
                &Move.XaddMR<W8>, &Move.XaddMR<W16>, &Move.XaddMR<W32>);
            case Mnemonic.Cmpxchg: return TwoRegOrMem(in ins, ref o, &Move.CmpxchgRR<W8>, &Move.CmpxchgRR<W16>, &Move.CmpxchgRR<W32>,
                &Move.CmpxchgMR<W8>, &Move.CmpxchgMR<W16>, &Move.CmpxchgMR<W32>);
            case Mnemonic.Cmpxchg8b:
                Mem(in ins, ref o);
                o.Fn = &Move.Cmpxchg8b;
                return true;
            case Mnemonic.Bswap:
                o.Reg = Gpr(ins.Op0Register);
                o.Fn = ins.Op0Register.IsGPR16() ? &Move.Bswap16 : &Move.Bswap32;
                return true;
            case Mnemonic.Cbw: o.Fn = &Move.Cbw; return true;
            case Mnemonic.Cwde: o.Fn = &Move.Cwde; return true;
            case Mnemonic.Cwd: o.Fn = &Move.Cwd; return true;
            case Mnemonic.Cdq: o.Fn = &Move.Cdq; return true;
            case Mnemonic.Xlatb:
                o.Seg = (byte)SegIndex(ins.MemorySegment);
                o.AddrMask = ins.MemoryBase.IsGPR16() ? 0xFFFFu : 0xFFFF_FFFFu;
                o.Fn = &Move.Xlat;
                return true;
            case Mnemonic.Lahf: o.Fn = &Move.Lahf; return true;
            case Mnemonic.Sahf: o.Fn = &Move.Sahf; return true;
            case Mnemonic.Salc: o.Fn = &Move.Salc; return true;
            case Mnemonic.Nop:
            case Mnemonic.Pause:
            case Mnemonic.Endbr32:
            case Mnemonic.Prefetchnta:
            case Mnemonic.Prefetcht0:
            case Mnemonic.Prefetcht1:
            case Mnemonic.Prefetcht2:
            case Mnemonic.Reservednop:
                o.Fn = &Move.Nop;
                return true;

            case Mnemonic.Lds: return LoadFar(in ins, ref o, X86Cpu.DS);
            case Mnemonic.Les: return LoadFar(in ins, ref o, X86Cpu.ES);
            case Mnemonic.Lfs: return LoadFar(in ins, ref o, X86Cpu.FS);
            case Mnemonic.Lgs: return LoadFar(in ins, ref o, X86Cpu.GS);
            case Mnemonic.Lss: ends = true; return LoadFar(in ins, ref o, X86Cpu.SS);

            case Mnemonic.Cmovo: case Mnemonic.Cmovno: case Mnemonic.Cmovb: case Mnemonic.Cmovae:
            case Mnemonic.Cmove: case Mnemonic.Cmovne: case Mnemonic.Cmovbe: case Mnemonic.Cmova:
            case Mnemonic.Cmovs: case Mnemonic.Cmovns: case Mnemonic.Cmovp: case Mnemonic.Cmovnp:
            case Mnemonic.Cmovl: case Mnemonic.Cmovge: case Mnemonic.Cmovle: case Mnemonic.Cmovg:
                return Cmov(in ins, ref o);
            case Mnemonic.Seto: case Mnemonic.Setno: case Mnemonic.Setb: case Mnemonic.Setae:
            case Mnemonic.Sete: case Mnemonic.Setne: case Mnemonic.Setbe: case Mnemonic.Seta:
            case Mnemonic.Sets: case Mnemonic.Setns: case Mnemonic.Setp: case Mnemonic.Setnp:
            case Mnemonic.Setl: case Mnemonic.Setge: case Mnemonic.Setle: case Mnemonic.Setg:
                return Setcc(in ins, ref o);
            case Mnemonic.Jo: case Mnemonic.Jno: case Mnemonic.Jb: case Mnemonic.Jae:
            case Mnemonic.Je: case Mnemonic.Jne: case Mnemonic.Jbe: case Mnemonic.Ja:
            case Mnemonic.Js: case Mnemonic.Jns: case Mnemonic.Jp: case Mnemonic.Jnp:
            case Mnemonic.Jl: case Mnemonic.Jge: case Mnemonic.Jle: case Mnemonic.Jg:
                Rel(in ins, ref o);
                o.Fn = CondHandler(Cc(in ins), 2);
                return true;

            case Mnemonic.Push: return Push(in ins, ref o);
            case Mnemonic.Pop: return Pop(in ins, ref o, ref ends);
            case Mnemonic.Pusha: o.Fn = &Stack.Pusha<W16>; return true;
            case Mnemonic.Pushad: o.Fn = &Stack.Pusha<W32>; return true;
            case Mnemonic.Popa: o.Fn = &Stack.Popa<W16>; return true;
            case Mnemonic.Popad: o.Fn = &Stack.Popa<W32>; return true;
            case Mnemonic.Pushf: o.Fn = &Stack.Pushf<W16>; return true;
            case Mnemonic.Pushfd: o.Fn = &Stack.Pushf<W32>; return true;
            case Mnemonic.Popf: ends = true; o.Fn = &Stack.Popf<W16>; return true;
            case Mnemonic.Popfd: ends = true; o.Fn = &Stack.Popf<W32>; return true;
            case Mnemonic.Enter:
                o.Imm = ins.Immediate16;
                o.Imm2 = ins.Immediate8_2nd;
                o.Fn = ins.Code == Code.Enterd_imm16_imm8 ? &Stack.Enter<W32> : &Stack.Enter<W16>;
                return true;
            case Mnemonic.Leave: o.Fn = ins.Code == Code.Leaved ? &Stack.Leave<W32> : &Stack.Leave<W16>; return true;

            case Mnemonic.Jmp: return Jmp(in ins, ref o);
            case Mnemonic.Call: return Call(in ins, ref o);
            case Mnemonic.Ret:
                o.Imm = ins.OpCount > 0 ? ins.Immediate16 : 0u;
                o.Fn = ins.Code is Code.Retnd or Code.Retnd_imm16 ? &Branch.Ret<W32> : &Branch.Ret<W16>;
                return true;
            case Mnemonic.Retf:
                o.Imm = ins.OpCount > 0 ? ins.Immediate16 : 0u;
                o.Fn = ins.Code is Code.Retfd or Code.Retfd_imm16 ? &Branch.RetFar<W32> : &Branch.RetFar<W16>;
                return true;
            case Mnemonic.Iret: o.Fn = &Branch.Iret<W16>; return true;
            case Mnemonic.Iretd: o.Fn = &Branch.Iret<W32>; return true;
            case Mnemonic.Int: o.Imm = ins.Immediate8; o.Fn = &Branch.Int; return true;
            case Mnemonic.Int3: o.Fn = &Branch.Int3; return true;
            case Mnemonic.Int1: o.Fn = &Branch.Int1; return true;
            case Mnemonic.Into: o.Fn = &Branch.Into; return true;
            case Mnemonic.Loop: case Mnemonic.Loope: case Mnemonic.Loopne:
                Rel(in ins, ref o);
                o.Op = (byte)((ins.Mnemonic == Mnemonic.Loope ? 1 : ins.Mnemonic == Mnemonic.Loopne ? 2 : 0) |
                              (ins.Op1Register == Register.ECX ? 4 : 0));
                o.Fn = &Branch.Loop;
                return true;
            case Mnemonic.Jcxz: case Mnemonic.Jecxz:
                Rel(in ins, ref o);
                o.Op = ins.Mnemonic == Mnemonic.Jecxz ? (byte)1 : (byte)0;
                o.Fn = &Branch.Jcxz;
                return true;
            case Mnemonic.Bound:
                Mem(in ins, ref o);
                o.Reg = Gpr(ins.Op0Register);
                o.Fn = Pick(RegWidth(ins.Op0Register), &Branch.Bound<W16>, &Branch.Bound<W32>);
                return true;

            case Mnemonic.Rol: return ShiftOp<OpRol>(in ins, ref o);
            case Mnemonic.Ror: return ShiftOp<OpRor>(in ins, ref o);
            case Mnemonic.Rcl: return ShiftOp<OpRcl>(in ins, ref o);
            case Mnemonic.Rcr: return ShiftOp<OpRcr>(in ins, ref o);
            case Mnemonic.Shl: case Mnemonic.Sal: return ShiftOp<OpShl>(in ins, ref o);
            case Mnemonic.Shr: return ShiftOp<OpShr>(in ins, ref o);
            case Mnemonic.Sar: return ShiftOp<OpSar>(in ins, ref o);
            case Mnemonic.Shld: case Mnemonic.Shrd: return DoubleShift(in ins, ref o);

            case Mnemonic.Mul: return OneOperand(in ins, ref o, &MulDiv.Mul<W8>, &MulDiv.Mul<W16>, &MulDiv.Mul<W32>);
            case Mnemonic.Div: return OneOperand(in ins, ref o, &MulDiv.Div<W8>, &MulDiv.Div<W16>, &MulDiv.Div<W32>);
            case Mnemonic.Idiv: return OneOperand(in ins, ref o, &MulDiv.Idiv<W8>, &MulDiv.Idiv<W16>, &MulDiv.Idiv<W32>);
            case Mnemonic.Imul:
                if (ins.OpCount == 1) return OneOperand(in ins, ref o, &MulDiv.Imul1<W8>, &MulDiv.Imul1<W16>, &MulDiv.Imul1<W32>);
                o.Reg = Gpr(ins.Op0Register);
                SourceRm(in ins, ref o, 1);
                if (ins.OpCount == 3) { o.Op = 1; o.Imm = (uint)ins.GetImmediate(2) & Mask(RegWidth(ins.Op0Register)); }
                o.Fn = Pick(RegWidth(ins.Op0Register), &MulDiv.ImulN<W16>, &MulDiv.ImulN<W32>);
                return true;

            case Mnemonic.Daa: o.Fn = &Bcd.Daa; return true;
            case Mnemonic.Das: o.Fn = &Bcd.Das; return true;
            case Mnemonic.Aaa: o.Fn = &Bcd.Aaa; return true;
            case Mnemonic.Aas: o.Fn = &Bcd.Aas; return true;
            case Mnemonic.Aam: o.Imm = ins.Immediate8; o.Fn = &Bcd.Aam; return true;
            case Mnemonic.Aad: o.Imm = ins.Immediate8; o.Fn = &Bcd.Aad; return true;

            case Mnemonic.Bt: return BitTest(in ins, ref o, 0);
            case Mnemonic.Bts: return BitTest(in ins, ref o, 1);
            case Mnemonic.Btr: return BitTest(in ins, ref o, 2);
            case Mnemonic.Btc: return BitTest(in ins, ref o, 3);
            case Mnemonic.Bsf: case Mnemonic.Bsr:
                o.Reg = Gpr(ins.Op0Register);
                SourceRm(in ins, ref o, 1);
                o.Op = ins.Mnemonic == Mnemonic.Bsr ? (byte)1 : (byte)0;
                o.Fn = Pick(RegWidth(ins.Op0Register), &BitOps.Scan<W16>, &BitOps.Scan<W32>);
                return true;

            case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsd:
            case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd:
            case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd:
            case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsd:
            case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd:
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd:
                return StringOp(in ins, ref o, ref ends);

            case Mnemonic.In:
                o.Op = ins.Op1Kind == OpKind.Register ? (byte)1 : (byte)0;
                o.Imm = o.Op == 0 ? ins.Immediate8 : 0u;
                o.Fn = Pick(RegWidth(ins.Op0Register), &Io.In<W8>, &Io.In<W16>, &Io.In<W32>);
                ends = true;
                return true;
            case Mnemonic.Out:
                o.Op = ins.Op0Kind == OpKind.Register ? (byte)1 : (byte)0;
                o.Imm = o.Op == 0 ? ins.Immediate8 : 0u;
                o.Fn = Pick(RegWidth(ins.Op1Register), &Io.Out<W8>, &Io.Out<W16>, &Io.Out<W32>);
                ends = true;
                return true;

            case Mnemonic.Clc: o.Fn = &SystemOps.Clc; return true;
            case Mnemonic.Stc: o.Fn = &SystemOps.Stc; return true;
            case Mnemonic.Cmc: o.Fn = &SystemOps.Cmc; return true;
            case Mnemonic.Cld: o.Fn = &SystemOps.Cld; return true;
            case Mnemonic.Std: o.Fn = &SystemOps.Std; return true;
            case Mnemonic.Cli: o.Fn = &SystemOps.Cli; return true;
            case Mnemonic.Sti: ends = true; o.Fn = &SystemOps.Sti; return true;
            case Mnemonic.Hlt: ends = true; o.Fn = &SystemOps.Hlt; return true;
            case Mnemonic.Cpuid: o.Fn = &SystemOps.Cpuid; return true;
            case Mnemonic.Rdtsc: ends = true; o.Fn = &SystemOps.Rdtsc; return true;
            case Mnemonic.Rdpmc: o.Fn = &SystemOps.Rdpmc; return true;
            case Mnemonic.Rdmsr: ends = true; o.Fn = &SystemOps.Rdmsr; return true;
            case Mnemonic.Wrmsr: ends = true; o.Fn = &SystemOps.Wrmsr; return true;
            case Mnemonic.Sysenter: ends = true; o.Fn = &SystemOps.Sysenter; return true;
            case Mnemonic.Sysexit: ends = true; o.Fn = &SystemOps.Sysexit; return true;
            case Mnemonic.Lgdt: case Mnemonic.Lidt:
                Mem(in ins, ref o);
                o.Op = ins.Mnemonic == Mnemonic.Lidt ? (byte)1 : (byte)0;
                o.Imm = ins.Code is Code.Lgdt_m1632 or Code.Lidt_m1632 ? 1u : 0u;
                o.Fn = &SystemOps.LoadTable;
                return true;
            case Mnemonic.Sgdt: case Mnemonic.Sidt:
                Mem(in ins, ref o);
                o.Op = ins.Mnemonic == Mnemonic.Sidt ? (byte)1 : (byte)0;
                o.Imm = ins.Code is Code.Sgdt_m1632 or Code.Sidt_m1632 ? 1u : 0u;
                o.Fn = &SystemOps.StoreTable;
                return true;
            case Mnemonic.Lldt: SourceRm(in ins, ref o, 0); o.Fn = &SystemOps.Lldt; return true;
            case Mnemonic.Ltr: SourceRm(in ins, ref o, 0); o.Fn = &SystemOps.Ltr; return true;
            case Mnemonic.Lmsw: ends = true; SourceRm(in ins, ref o, 0); o.Fn = &SystemOps.Lmsw; return true;
            case Mnemonic.Verr: case Mnemonic.Verw:
                SourceRm(in ins, ref o, 0);
                o.Op = ins.Mnemonic == Mnemonic.Verw ? (byte)1 : (byte)0;
                o.Fn = &SystemOps.Ver;
                return true;
            case Mnemonic.Sldt: case Mnemonic.Str: case Mnemonic.Smsw:
                SourceRm(in ins, ref o, 0);
                o.Imm = IsReg(in ins, 0) && ins.Op0Register.IsGPR32() ? 1u : 0u;
                o.Fn = ins.Mnemonic == Mnemonic.Sldt ? &SystemOps.Sldt : ins.Mnemonic == Mnemonic.Str ? &SystemOps.Str : &SystemOps.Smsw;
                return true;
            case Mnemonic.Lar: case Mnemonic.Lsl:
                o.Reg = Gpr(ins.Op0Register);
                SourceRm(in ins, ref o, 1);
                o.Op = ins.Mnemonic == Mnemonic.Lsl ? (byte)1 : (byte)0;
                o.Fn = Pick(RegWidth(ins.Op0Register), &SystemOps.LarLsl<W16>, &SystemOps.LarLsl<W32>);
                return true;
            case Mnemonic.Arpl:
                SourceRm(in ins, ref o, 0);
                o.Reg = Gpr(ins.Op1Register);
                o.Fn = &SystemOps.Arpl;
                return true;
            case Mnemonic.Clts: o.Fn = &SystemOps.Clts; return true;
            case Mnemonic.Invlpg: ends = true; Mem(in ins, ref o); o.Fn = &SystemOps.Invlpg; return true;
            case Mnemonic.Invd: case Mnemonic.Wbinvd: o.Fn = &SystemOps.CacheOp; return true;
            case Mnemonic.Wait: o.Fn = &Fpu.FpuOps.Wait; return true;
            case Mnemonic.Ud0: case Mnemonic.Ud1: case Mnemonic.Ud2:
                o.Fn = &SystemOps.Ud;
                return true;
        }
        return false;
    }

    // ---- families -------------------------------------------------------------------------------------

    private static bool Alu<T>(in Instruction ins, ref Insn o) where T : IAlu
    {
        int w = OpWidth(in ins, 0);
        OpKind k0 = ins.Op0Kind, k1 = ins.Op1Kind;
        if (k0 == OpKind.Register && k1 == OpKind.Register)
        {
            o.Reg = Gpr(ins.Op0Register); o.Rm = Gpr(ins.Op1Register);
            o.Fn = Pick(w, &Exec.Alu.RR<T, W8>, &Exec.Alu.RR<T, W16>, &Exec.Alu.RR<T, W32>);
        }
        else if (k0 == OpKind.Register && k1 == OpKind.Memory)
        {
            o.Reg = Gpr(ins.Op0Register); Mem(in ins, ref o);
            o.Fn = Pick(w, &Exec.Alu.RM<T, W8>, &Exec.Alu.RM<T, W16>, &Exec.Alu.RM<T, W32>);
        }
        else if (k0 == OpKind.Memory && k1 == OpKind.Register)
        {
            Mem(in ins, ref o); o.Reg = Gpr(ins.Op1Register);
            o.Fn = Pick(w, &Exec.Alu.MR<T, W8>, &Exec.Alu.MR<T, W16>, &Exec.Alu.MR<T, W32>);
        }
        else if (k0 == OpKind.Register && IsImm(k1))
        {
            o.Reg = Gpr(ins.Op0Register); o.Imm = (uint)ins.GetImmediate(1) & Mask(w);
            o.Fn = Pick(w, &Exec.Alu.RI<T, W8>, &Exec.Alu.RI<T, W16>, &Exec.Alu.RI<T, W32>);
        }
        else if (k0 == OpKind.Memory && IsImm(k1))
        {
            Mem(in ins, ref o); o.Imm = (uint)ins.GetImmediate(1) & Mask(w);
            o.Fn = Pick(w, &Exec.Alu.MI<T, W8>, &Exec.Alu.MI<T, W16>, &Exec.Alu.MI<T, W32>);
        }
        else return false;
        return true;
    }

    private static bool Unary<T>(in Instruction ins, ref Insn o) where T : IUnary
    {
        int w = OpWidth(in ins, 0);
        if (IsReg(in ins, 0))
        {
            o.Reg = Gpr(ins.Op0Register);
            o.Fn = Pick(w, &Exec.Alu.UnR<T, W8>, &Exec.Alu.UnR<T, W16>, &Exec.Alu.UnR<T, W32>);
        }
        else
        {
            Mem(in ins, ref o);
            o.Fn = Pick(w, &Exec.Alu.UnM<T, W8>, &Exec.Alu.UnM<T, W16>, &Exec.Alu.UnM<T, W32>);
        }
        return true;
    }

    private static bool Mov(in Instruction ins, ref Insn o, ref bool ends)
    {
        OpKind k0 = ins.Op0Kind, k1 = ins.Op1Kind;
        Register r0 = k0 == OpKind.Register ? ins.Op0Register : Register.None;
        Register r1 = k1 == OpKind.Register ? ins.Op1Register : Register.None;
        if (r0.IsCR() || r1.IsCR())
        {
            int n = r0.IsCR() ? r0 - Register.CR0 : r1 - Register.CR0;
            if (n is not (0 or 2 or 3 or 4)) return false;
            o.Op = (byte)n;
            o.Rm = Gpr(r0.IsCR() ? r1 : r0);
            o.Fn = r0.IsCR() ? &SystemOps.MovToCr : &SystemOps.MovFromCr;
            if (r0.IsCR()) ends = true;
            return true;
        }
        if (r0.IsDR() || r1.IsDR())
        {
            int n = r0.IsDR() ? r0 - Register.DR0 : r1 - Register.DR0;
            if (n > 7) return false;
            o.Op = (byte)n;
            o.Imm = r0.IsDR() ? 1u : 0u;
            o.Rm = Gpr(r0.IsDR() ? r1 : r0);
            o.Fn = &SystemOps.MovDr;
            return true;
        }
        if (r0.IsTR() || r1.IsTR()) return false;
        if (r0.IsSegmentRegister())
        {
            if (r0 == Register.CS) return false;
            o.Op = (byte)SegIndex(r0);
            if (k1 == OpKind.Register) { o.Rm = Gpr(r1); o.Fn = &Move.MovSregR; }
            else { Mem(in ins, ref o); o.Fn = &Move.MovSregM; }
            if (r0 == Register.SS) ends = true;
            return true;
        }
        if (r1.IsSegmentRegister())
        {
            o.Op = (byte)SegIndex(r1);
            if (k0 == OpKind.Register) { o.Reg = Gpr(r0); o.Imm = r0.IsGPR32() ? 1u : 0u; o.Fn = &Move.MovRSreg; }
            else { Mem(in ins, ref o); o.Fn = &Move.MovMSreg; }
            return true;
        }
        int w = OpWidth(in ins, 0);
        if (k0 == OpKind.Register && k1 == OpKind.Register)
        { o.Reg = Gpr(r0); o.Rm = Gpr(r1); o.Fn = Pick(w, &Move.RR<W8>, &Move.RR<W16>, &Move.RR<W32>); }
        else if (k0 == OpKind.Register && k1 == OpKind.Memory)
        { o.Reg = Gpr(r0); Mem(in ins, ref o); o.Fn = Pick(w, &Move.RM<W8>, &Move.RM<W16>, &Move.RM<W32>); }
        else if (k0 == OpKind.Memory && k1 == OpKind.Register)
        { Mem(in ins, ref o); o.Reg = Gpr(r1); o.Fn = Pick(w, &Move.MR<W8>, &Move.MR<W16>, &Move.MR<W32>); }
        else if (k0 == OpKind.Register && IsImm(k1))
        { o.Reg = Gpr(r0); o.Imm = (uint)ins.GetImmediate(1) & Mask(w); o.Fn = Pick(w, &Move.RI<W8>, &Move.RI<W16>, &Move.RI<W32>); }
        else if (k0 == OpKind.Memory && IsImm(k1))
        { Mem(in ins, ref o); o.Imm = (uint)ins.GetImmediate(1) & Mask(w); o.Fn = Pick(w, &Move.MI<W8>, &Move.MI<W16>, &Move.MI<W32>); }
        else return false;
        return true;
    }

    private static bool Extend(in Instruction ins, ref Insn o)
    {
        int dw = RegWidth(ins.Op0Register);
        int sw = OpWidth(in ins, 1);
        o.Reg = Gpr(ins.Op0Register);
        o.Op = ins.Mnemonic == Mnemonic.Movsx ? (byte)1 : (byte)0;
        if (IsReg(in ins, 1))
        {
            o.Rm = Gpr(ins.Op1Register);
            o.Fn = (sw, dw) switch
            {
                (1, 2) => &Move.ExtRR<W8, W16>, (1, 4) => &Move.ExtRR<W8, W32>,
                (2, 2) => &Move.ExtRR<W16, W16>, _ => &Move.ExtRR<W16, W32>,
            };
        }
        else
        {
            Mem(in ins, ref o);
            o.Fn = (sw, dw) switch
            {
                (1, 2) => &Move.ExtRM<W8, W16>, (1, 4) => &Move.ExtRM<W8, W32>,
                (2, 2) => &Move.ExtRM<W16, W16>, _ => &Move.ExtRM<W16, W32>,
            };
        }
        return true;
    }

    /// <summary>r/m, r instructions whose register form writes both registers (XCHG, XADD, CMPXCHG).</summary>
    private static bool TwoRegOrMem(in Instruction ins, ref Insn o, H rr8, H rr16, H rr32, H mr8, H mr16, H mr32)
    {
        int w = OpWidth(in ins, 0);
        if (IsReg(in ins, 0) && IsReg(in ins, 1))
        {
            o.Reg = Gpr(ins.Op0Register); o.Rm = Gpr(ins.Op1Register);
            o.Fn = Pick(w, rr8, rr16, rr32);
        }
        else if (IsMem(in ins, 0) && IsReg(in ins, 1))
        {
            Mem(in ins, ref o); o.Reg = Gpr(ins.Op1Register);
            o.Fn = Pick(w, mr8, mr16, mr32);
        }
        else if (IsReg(in ins, 0) && IsMem(in ins, 1))
        {
            // XCHG r, m is the same operation.
            Mem(in ins, ref o); o.Reg = Gpr(ins.Op0Register);
            o.Fn = Pick(w, mr8, mr16, mr32);
        }
        else return false;
        return true;
    }

    /// <summary>Source r/m operand: register in Rm with Seg = 0xFF, or the memory operand.</summary>
    private static void SourceRm(in Instruction ins, ref Insn o, int n)
    {
        if (IsReg(in ins, n)) { o.Seg = 0xFF; o.Rm = Gpr(ins.GetOpRegister(n)); }
        else Mem(in ins, ref o);
    }

    private static bool OneOperand(in Instruction ins, ref Insn o, H h8, H h16, H h32)
    {
        SourceRm(in ins, ref o, 0);
        o.Fn = Pick(OpWidth(in ins, 0), h8, h16, h32);
        return true;
    }

    private static bool LoadFar(in Instruction ins, ref Insn o, int seg)
    {
        Mem(in ins, ref o);
        o.Reg = Gpr(ins.Op0Register);
        o.Op = (byte)seg;
        o.Fn = Pick(RegWidth(ins.Op0Register), &Move.LoadFar<W16>, &Move.LoadFar<W32>);
        return true;
    }

    private static bool Push(in Instruction ins, ref Insn o)
    {
        bool w32 = ins.StackPointerIncrement == -4;
        OpKind k = ins.Op0Kind;
        if (k == OpKind.Register)
        {
            Register r = ins.Op0Register;
            if (r.IsSegmentRegister()) { o.Op = (byte)SegIndex(r); o.Fn = w32 ? &Stack.PushSreg<W32> : &Stack.PushSreg<W16>; }
            else { o.Reg = Gpr(r); o.Fn = w32 ? &Stack.PushR<W32> : &Stack.PushR<W16>; }
        }
        else if (k == OpKind.Memory) { Mem(in ins, ref o); o.Fn = w32 ? &Stack.PushM<W32> : &Stack.PushM<W16>; }
        else if (IsImm(k)) { o.Imm = (uint)ins.GetImmediate(0) & (w32 ? 0xFFFF_FFFFu : 0xFFFFu); o.Fn = w32 ? &Stack.PushI<W32> : &Stack.PushI<W16>; }
        else return false;
        return true;
    }

    private static bool Pop(in Instruction ins, ref Insn o, ref bool ends)
    {
        bool w32 = ins.StackPointerIncrement == 4;
        if (ins.Op0Kind == OpKind.Register)
        {
            Register r = ins.Op0Register;
            if (r.IsSegmentRegister())
            {
                if (r == Register.CS) return false;
                o.Op = (byte)SegIndex(r);
                o.Fn = w32 ? &Stack.PopSreg<W32> : &Stack.PopSreg<W16>;
                if (r == Register.SS) ends = true;
            }
            else { o.Reg = Gpr(r); o.Fn = w32 ? &Stack.PopR<W32> : &Stack.PopR<W16>; }
        }
        else { Mem(in ins, ref o); o.Fn = w32 ? &Stack.PopM<W32> : &Stack.PopM<W16>; }
        return true;
    }

    private static bool Jmp(in Instruction ins, ref Insn o)
    {
        switch (ins.Op0Kind)
        {
            case OpKind.NearBranch16: case OpKind.NearBranch32:
                Rel(in ins, ref o); o.Fn = &Branch.Jmp; return true;
            case OpKind.FarBranch16: case OpKind.FarBranch32:
                o.Imm = ins.Op0Kind == OpKind.FarBranch16 ? ins.FarBranch16 : ins.FarBranch32;
                o.Imm2 = ins.FarBranchSelector;
                o.Fn = ins.Op0Kind == OpKind.FarBranch16 ? &Branch.JmpFar<W16> : &Branch.JmpFar<W32>;
                return true;
            case OpKind.Register:
                o.Reg = Gpr(ins.Op0Register);
                o.Fn = Pick(RegWidth(ins.Op0Register), &Branch.JmpR<W16>, &Branch.JmpR<W32>);
                return true;
            case OpKind.Memory:
                Mem(in ins, ref o);
                if (ins.Code == Code.Jmp_m1616) o.Fn = &Branch.JmpFarM<W16>;
                else if (ins.Code == Code.Jmp_m1632) o.Fn = &Branch.JmpFarM<W32>;
                else o.Fn = Pick(MemWidth(in ins), &Branch.JmpM<W16>, &Branch.JmpM<W32>);
                return true;
        }
        return false;
    }

    private static bool Call(in Instruction ins, ref Insn o)
    {
        switch (ins.Op0Kind)
        {
            case OpKind.NearBranch16: case OpKind.NearBranch32:
                Rel(in ins, ref o);
                o.Fn = ins.Op0Kind == OpKind.NearBranch16 ? &Branch.CallRel<W16> : &Branch.CallRel<W32>;
                return true;
            case OpKind.FarBranch16: case OpKind.FarBranch32:
                o.Imm = ins.Op0Kind == OpKind.FarBranch16 ? ins.FarBranch16 : ins.FarBranch32;
                o.Imm2 = ins.FarBranchSelector;
                o.Fn = ins.Op0Kind == OpKind.FarBranch16 ? &Branch.CallFar<W16> : &Branch.CallFar<W32>;
                return true;
            case OpKind.Register:
                o.Reg = Gpr(ins.Op0Register);
                o.Fn = Pick(RegWidth(ins.Op0Register), &Branch.CallR<W16>, &Branch.CallR<W32>);
                return true;
            case OpKind.Memory:
                Mem(in ins, ref o);
                if (ins.Code == Code.Call_m1616) o.Fn = &Branch.CallFarM<W16>;
                else if (ins.Code == Code.Call_m1632) o.Fn = &Branch.CallFarM<W32>;
                else o.Fn = Pick(MemWidth(in ins), &Branch.CallM<W16>, &Branch.CallM<W32>);
                return true;
        }
        return false;
    }

    private static bool ShiftOp<T>(in Instruction ins, ref Insn o) where T : IShift
    {
        int w = OpWidth(in ins, 0);
        if (ins.Op1Kind == OpKind.Register) o.Op = 1;          // CL
        else o.Imm = ins.Immediate8;
        if (IsReg(in ins, 0))
        {
            o.Reg = Gpr(ins.Op0Register);
            o.Fn = Pick(w, &Shift.R<T, W8>, &Shift.R<T, W16>, &Shift.R<T, W32>);
        }
        else
        {
            Mem(in ins, ref o);
            o.Fn = Pick(w, &Shift.M<T, W8>, &Shift.M<T, W16>, &Shift.M<T, W32>);
        }
        return true;
    }

    private static bool DoubleShift(in Instruction ins, ref Insn o)
    {
        int w = OpWidth(in ins, 0);
        o.Op = (byte)((ins.Op2Kind == OpKind.Register ? 1 : 0) | (ins.Mnemonic == Mnemonic.Shrd ? 2 : 0));
        if (ins.Op2Kind != OpKind.Register) o.Imm = ins.Immediate8;
        if (IsReg(in ins, 0))
        {
            o.Reg = Gpr(ins.Op0Register); o.Rm = Gpr(ins.Op1Register);
            o.Fn = Pick(w, &Shift.DoubleR<W16>, &Shift.DoubleR<W32>);
        }
        else
        {
            Mem(in ins, ref o); o.Reg = Gpr(ins.Op1Register);
            o.Fn = Pick(w, &Shift.DoubleM<W16>, &Shift.DoubleM<W32>);
        }
        return true;
    }

    private static bool BitTest(in Instruction ins, ref Insn o, int op)
    {
        int w = OpWidth(in ins, 0);
        o.Op = (byte)op;
        if (ins.Op1Kind == OpKind.Register) o.Rm = Gpr(ins.Op1Register);
        else { o.Rm = 0xFF; o.Imm = ins.Immediate8; }
        if (IsReg(in ins, 0))
        {
            o.Reg = Gpr(ins.Op0Register);
            o.Fn = Pick(w, &BitOps.R<W16>, &BitOps.R<W32>);
        }
        else
        {
            Mem(in ins, ref o);
            o.Fn = Pick(w, &BitOps.M<W16>, &BitOps.M<W32>);
        }
        return true;
    }

    private static bool Cmov(in Instruction ins, ref Insn o)
    {
        int w = RegWidth(ins.Op0Register);
        o.Reg = Gpr(ins.Op0Register);
        int cc = Cc(in ins);
        if (IsReg(in ins, 1)) { o.Rm = Gpr(ins.Op1Register); o.Fn = CondHandler(cc, w == 2 ? 3 : 4); }
        else { Mem(in ins, ref o); o.Fn = CondHandler(cc, w == 2 ? 5 : 6); }
        return true;
    }

    private static bool Setcc(in Instruction ins, ref Insn o)
    {
        int cc = Cc(in ins);
        if (IsReg(in ins, 0)) { o.Reg = Gpr(ins.Op0Register); o.Fn = CondHandler(cc, 0); }
        else { Mem(in ins, ref o); o.Fn = CondHandler(cc, 1); }
        return true;
    }

    /// <summary>Handlers specialised per condition. Kind: 0 SETcc r, 1 SETcc m, 2 Jcc, 3/4 CMOVcc r16/r32 reg,
    /// 5/6 CMOVcc r16/r32 mem.</summary>
    private static H CondHandler(int cc, int kind) => (cc >> 1) switch
    {
        0 => (cc & 1) == 0 ? ForCond<CondO>(kind) : ForCond<Not<CondO>>(kind),
        1 => (cc & 1) == 0 ? ForCond<CondB>(kind) : ForCond<Not<CondB>>(kind),
        2 => (cc & 1) == 0 ? ForCond<CondZ>(kind) : ForCond<Not<CondZ>>(kind),
        3 => (cc & 1) == 0 ? ForCond<CondBE>(kind) : ForCond<Not<CondBE>>(kind),
        4 => (cc & 1) == 0 ? ForCond<CondS>(kind) : ForCond<Not<CondS>>(kind),
        5 => (cc & 1) == 0 ? ForCond<CondP>(kind) : ForCond<Not<CondP>>(kind),
        6 => (cc & 1) == 0 ? ForCond<CondL>(kind) : ForCond<Not<CondL>>(kind),
        _ => (cc & 1) == 0 ? ForCond<CondLE>(kind) : ForCond<Not<CondLE>>(kind),
    };

    private static H ForCond<T>(int kind) where T : ICond => kind switch
    {
        0 => &Move.SetccR<T>,
        1 => &Move.SetccM<T>,
        2 => &Branch.Jcc<T>,
        3 => &Move.CmovRR<T, W16>,
        4 => &Move.CmovRR<T, W32>,
        5 => &Move.CmovRM<T, W16>,
        _ => &Move.CmovRM<T, W32>,
    };

    private static bool StringOp(in Instruction ins, ref Insn o, ref bool ends)
    {
        Code c = ins.Code;
        int w;
        switch (c)
        {
            case Code.Movsb_m8_m8: case Code.Stosb_m8_AL: case Code.Lodsb_AL_m8: case Code.Cmpsb_m8_m8:
            case Code.Scasb_AL_m8: case Code.Insb_m8_DX: case Code.Outsb_DX_m8:
                w = 1; break;
            case Code.Movsw_m16_m16: case Code.Stosw_m16_AX: case Code.Lodsw_AX_m16: case Code.Cmpsw_m16_m16:
            case Code.Scasw_AX_m16: case Code.Insw_m16_DX: case Code.Outsw_DX_m16:
                w = 2; break;
            case Code.Movsd_m32_m32: case Code.Stosd_m32_EAX: case Code.Lodsd_EAX_m32: case Code.Cmpsd_m32_m32:
            case Code.Scasd_EAX_m32: case Code.Insd_m32_DX: case Code.Outsd_DX_m32:
                w = 4; break;
            default: return false;      // SSE MOVSD/CMPSD share the mnemonics
        }
        bool a32 = false;
        for (int n = 0; n < ins.OpCount; n++)
        {
            OpKind k = ins.GetOpKind(n);
            if (k is OpKind.MemorySegESI or OpKind.MemoryESEDI) a32 = true;
            if (k is OpKind.MemorySegSI or OpKind.MemorySegESI) o.Seg = (byte)SegIndex(ins.MemorySegment);
        }
        bool compare = ins.Mnemonic is Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd;
        o.Op = ins.HasRepePrefix ? (byte)1 : ins.HasRepnePrefix ? (compare ? (byte)2 : (byte)1) : (byte)0;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsd:
                o.Fn = a32 ? Pick(w, &StringOps.Movs<W8, A32>, &StringOps.Movs<W16, A32>, &StringOps.Movs<W32, A32>)
                           : Pick(w, &StringOps.Movs<W8, A16>, &StringOps.Movs<W16, A16>, &StringOps.Movs<W32, A16>);
                break;
            case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd:
                o.Fn = a32 ? Pick(w, &StringOps.Stos<W8, A32>, &StringOps.Stos<W16, A32>, &StringOps.Stos<W32, A32>)
                           : Pick(w, &StringOps.Stos<W8, A16>, &StringOps.Stos<W16, A16>, &StringOps.Stos<W32, A16>);
                break;
            case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd:
                o.Fn = a32 ? Pick(w, &StringOps.Lods<W8, A32>, &StringOps.Lods<W16, A32>, &StringOps.Lods<W32, A32>)
                           : Pick(w, &StringOps.Lods<W8, A16>, &StringOps.Lods<W16, A16>, &StringOps.Lods<W32, A16>);
                break;
            case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsd:
                o.Fn = a32 ? Pick(w, &StringOps.Cmps<W8, A32>, &StringOps.Cmps<W16, A32>, &StringOps.Cmps<W32, A32>)
                           : Pick(w, &StringOps.Cmps<W8, A16>, &StringOps.Cmps<W16, A16>, &StringOps.Cmps<W32, A16>);
                break;
            case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd:
                o.Fn = a32 ? Pick(w, &StringOps.Scas<W8, A32>, &StringOps.Scas<W16, A32>, &StringOps.Scas<W32, A32>)
                           : Pick(w, &StringOps.Scas<W8, A16>, &StringOps.Scas<W16, A16>, &StringOps.Scas<W32, A16>);
                break;
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
                ends = true;
                o.Fn = a32 ? Pick(w, &StringOps.Ins<W8, A32>, &StringOps.Ins<W16, A32>, &StringOps.Ins<W32, A32>)
                           : Pick(w, &StringOps.Ins<W8, A16>, &StringOps.Ins<W16, A16>, &StringOps.Ins<W32, A16>);
                break;
            default:
                ends = true;
                o.Fn = a32 ? Pick(w, &StringOps.Outs<W8, A32>, &StringOps.Outs<W16, A32>, &StringOps.Outs<W32, A32>)
                           : Pick(w, &StringOps.Outs<W8, A16>, &StringOps.Outs<W16, A16>, &StringOps.Outs<W32, A16>);
                break;
        }
        return true;
    }
}
