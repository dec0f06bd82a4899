using Iced.Intel;

namespace Emulator.Cpu.Fpu;

/// <summary>Maps Iced's x87 instruction codes to <see cref="FpuOps"/> handlers and their operand fields.
/// FISTTP (SSE3), FXSAVE/FXRSTOR (FXSR) and the coprocessor-specific codes of other vendors are not part of
/// this CPU and decode to #UD.</summary>
internal static unsafe class FpuTranslator
{
    private static int Sti(in Instruction ins) => ins.OpCount > 1 && ins.Op1Register >= Register.ST0 && ins.Op1Register <= Register.ST7
        ? ins.Op1Register - Register.ST0
        : ins.OpCount > 0 && ins.Op0Register >= Register.ST0 && ins.Op0Register <= Register.ST7 ? ins.Op0Register - Register.ST0 : 1;

    /// <summary>FOP: the low three bits of the opcode byte and the ModRM byte (SDM Vol. 1, 8.1.9).</summary>
    public static ushort Fop(ReadOnlySpan<byte> bytes)
    {
        int k = 0;
        while (k < bytes.Length && bytes[k] is 0x26 or 0x2E or 0x36 or 0x3E or 0x64 or 0x65 or 0x66 or 0x67 or 0xF0 or 0xF2 or 0xF3 or 0x9B) k++;
        if (k + 1 >= bytes.Length) return 0;
        return (ushort)((bytes[k] & 7) << 8 | bytes[k + 1]);
    }

    public static bool Build(in Instruction ins, ref Insn o, ReadOnlySpan<byte> bytes)
    {
        if (!Map(in ins, ref o)) return false;
        o.Imm2 = Fop(bytes);
        return true;
    }

    private static void Mem(in Instruction ins, ref Insn o) => Translator.MemOperand(in ins, ref o);

    private static bool Map(in Instruction ins, ref Insn o)
    {
        switch (ins.Code)
        {
            // ST(0) op memory
            case Code.Fadd_m32fp: return ArithMem<F32>(in ins, ref o, 0);
            case Code.Fmul_m32fp: return ArithMem<F32>(in ins, ref o, 1);
            case Code.Fsub_m32fp: return ArithMem<F32>(in ins, ref o, 4);
            case Code.Fsubr_m32fp: return ArithMem<F32>(in ins, ref o, 5);
            case Code.Fdiv_m32fp: return ArithMem<F32>(in ins, ref o, 6);
            case Code.Fdivr_m32fp: return ArithMem<F32>(in ins, ref o, 7);
            case Code.Fadd_m64fp: return ArithMem<F64>(in ins, ref o, 0);
            case Code.Fmul_m64fp: return ArithMem<F64>(in ins, ref o, 1);
            case Code.Fsub_m64fp: return ArithMem<F64>(in ins, ref o, 4);
            case Code.Fsubr_m64fp: return ArithMem<F64>(in ins, ref o, 5);
            case Code.Fdiv_m64fp: return ArithMem<F64>(in ins, ref o, 6);
            case Code.Fdivr_m64fp: return ArithMem<F64>(in ins, ref o, 7);
            case Code.Fiadd_m32int: return ArithMem<I32>(in ins, ref o, 0);
            case Code.Fimul_m32int: return ArithMem<I32>(in ins, ref o, 1);
            case Code.Fisub_m32int: return ArithMem<I32>(in ins, ref o, 4);
            case Code.Fisubr_m32int: return ArithMem<I32>(in ins, ref o, 5);
            case Code.Fidiv_m32int: return ArithMem<I32>(in ins, ref o, 6);
            case Code.Fidivr_m32int: return ArithMem<I32>(in ins, ref o, 7);
            case Code.Fiadd_m16int: return ArithMem<I16>(in ins, ref o, 0);
            case Code.Fimul_m16int: return ArithMem<I16>(in ins, ref o, 1);
            case Code.Fisub_m16int: return ArithMem<I16>(in ins, ref o, 4);
            case Code.Fisubr_m16int: return ArithMem<I16>(in ins, ref o, 5);
            case Code.Fidiv_m16int: return ArithMem<I16>(in ins, ref o, 6);
            case Code.Fidivr_m16int: return ArithMem<I16>(in ins, ref o, 7);

            // register arithmetic: Imm bit 0 = destination ST(i), bit 1 = pop
            case Code.Fadd_st0_sti: return ArithReg(in ins, ref o, 0, 0);
            case Code.Fmul_st0_sti: return ArithReg(in ins, ref o, 1, 0);
            case Code.Fsub_st0_sti: return ArithReg(in ins, ref o, 4, 0);
            case Code.Fsubr_st0_sti: return ArithReg(in ins, ref o, 5, 0);
            case Code.Fdiv_st0_sti: return ArithReg(in ins, ref o, 6, 0);
            case Code.Fdivr_st0_sti: return ArithReg(in ins, ref o, 7, 0);
            case Code.Fadd_sti_st0: return ArithReg(in ins, ref o, 0, 1);
            case Code.Fmul_sti_st0: return ArithReg(in ins, ref o, 1, 1);
            case Code.Fsub_sti_st0: return ArithReg(in ins, ref o, 4, 1);
            case Code.Fsubr_sti_st0: return ArithReg(in ins, ref o, 5, 1);
            case Code.Fdiv_sti_st0: return ArithReg(in ins, ref o, 6, 1);
            case Code.Fdivr_sti_st0: return ArithReg(in ins, ref o, 7, 1);
            case Code.Faddp_sti_st0: return ArithReg(in ins, ref o, 0, 3);
            case Code.Fmulp_sti_st0: return ArithReg(in ins, ref o, 1, 3);
            case Code.Fsubp_sti_st0: return ArithReg(in ins, ref o, 4, 3);
            case Code.Fsubrp_sti_st0: return ArithReg(in ins, ref o, 5, 3);
            case Code.Fdivp_sti_st0: return ArithReg(in ins, ref o, 6, 3);
            case Code.Fdivrp_sti_st0: return ArithReg(in ins, ref o, 7, 3);

            // comparisons
            case Code.Fcom_m32fp: return ComMem<F32>(in ins, ref o, 0);
            case Code.Fcomp_m32fp: return ComMem<F32>(in ins, ref o, 1);
            case Code.Fcom_m64fp: return ComMem<F64>(in ins, ref o, 0);
            case Code.Fcomp_m64fp: return ComMem<F64>(in ins, ref o, 1);
            case Code.Ficom_m32int: return ComMem<I32>(in ins, ref o, 0);
            case Code.Ficomp_m32int: return ComMem<I32>(in ins, ref o, 1);
            case Code.Ficom_m16int: return ComMem<I16>(in ins, ref o, 0);
            case Code.Ficomp_m16int: return ComMem<I16>(in ins, ref o, 1);
            case Code.Fcom_st0_sti: case Code.Fcom_st0_sti_DCD0: return ComReg(in ins, ref o, Sti(in ins), 0, 0);
            case Code.Fcomp_st0_sti: case Code.Fcomp_st0_sti_DCD8: case Code.Fcomp_st0_sti_DED0:
                return ComReg(in ins, ref o, Sti(in ins), 1, 0);
            case Code.Fcompp: return ComReg(in ins, ref o, 1, 2, 0);
            case Code.Fucom_st0_sti: return ComReg(in ins, ref o, Sti(in ins), 0, 1);
            case Code.Fucomp_st0_sti: return ComReg(in ins, ref o, Sti(in ins), 1, 1);
            case Code.Fucompp: return ComReg(in ins, ref o, 1, 2, 1);
            case Code.Fcomi_st0_sti: return Set(ref o, &FpuOps.Comi, 0, 0, Sti(in ins));
            case Code.Fucomi_st0_sti: return Set(ref o, &FpuOps.Comi, 1, 0, Sti(in ins));
            case Code.Fcomip_st0_sti: return Set(ref o, &FpuOps.Comi, 0, 1, Sti(in ins));
            case Code.Fucomip_st0_sti: return Set(ref o, &FpuOps.Comi, 1, 1, Sti(in ins));
            case Code.Ftst: return Set(ref o, &FpuOps.Tst, 0, 0, 0);
            case Code.Fxam: return Set(ref o, &FpuOps.Xam, 0, 0, 0);

            // loads
            case Code.Fld_m32fp: Mem(in ins, ref o); o.Fn = &FpuOps.LdMem<F32>; return true;
            case Code.Fld_m64fp: Mem(in ins, ref o); o.Fn = &FpuOps.LdMem<F64>; return true;
            case Code.Fld_m80fp: Mem(in ins, ref o); o.Fn = &FpuOps.LdMem<F80>; return true;
            case Code.Fild_m16int: Mem(in ins, ref o); o.Fn = &FpuOps.LdMem<I16>; return true;
            case Code.Fild_m32int: Mem(in ins, ref o); o.Fn = &FpuOps.LdMem<I32>; return true;
            case Code.Fild_m64int: Mem(in ins, ref o); o.Fn = &FpuOps.LdMem<I64>; return true;
            case Code.Fbld_m80bcd: Mem(in ins, ref o); o.Fn = &FpuOps.LdMem<Bcd80>; return true;
            case Code.Fld_sti: return Set(ref o, &FpuOps.LdReg, 0, 0, Sti(in ins));
            case Code.Fld1: return Set(ref o, &FpuOps.LdConst, 0, 0, 0);
            case Code.Fldl2t: return Set(ref o, &FpuOps.LdConst, 1, 0, 0);
            case Code.Fldl2e: return Set(ref o, &FpuOps.LdConst, 2, 0, 0);
            case Code.Fldpi: return Set(ref o, &FpuOps.LdConst, 3, 0, 0);
            case Code.Fldlg2: return Set(ref o, &FpuOps.LdConst, 4, 0, 0);
            case Code.Fldln2: return Set(ref o, &FpuOps.LdConst, 5, 0, 0);
            case Code.Fldz: return Set(ref o, &FpuOps.LdConst, 6, 0, 0);

            // stores: Imm 1 = pop
            case Code.Fst_m32fp: Mem(in ins, ref o); o.Fn = &FpuOps.StMem<F32>; return true;
            case Code.Fstp_m32fp: Mem(in ins, ref o); o.Imm = 1; o.Fn = &FpuOps.StMem<F32>; return true;
            case Code.Fst_m64fp: Mem(in ins, ref o); o.Fn = &FpuOps.StMem<F64>; return true;
            case Code.Fstp_m64fp: Mem(in ins, ref o); o.Imm = 1; o.Fn = &FpuOps.StMem<F64>; return true;
            case Code.Fstp_m80fp: Mem(in ins, ref o); o.Imm = 1; o.Fn = &FpuOps.StMem<F80>; return true;
            case Code.Fist_m16int: Mem(in ins, ref o); o.Fn = &FpuOps.StMem<I16>; return true;
            case Code.Fistp_m16int: Mem(in ins, ref o); o.Imm = 1; o.Fn = &FpuOps.StMem<I16>; return true;
            case Code.Fist_m32int: Mem(in ins, ref o); o.Fn = &FpuOps.StMem<I32>; return true;
            case Code.Fistp_m32int: Mem(in ins, ref o); o.Imm = 1; o.Fn = &FpuOps.StMem<I32>; return true;
            case Code.Fistp_m64int: Mem(in ins, ref o); o.Imm = 1; o.Fn = &FpuOps.StMem<I64>; return true;
            case Code.Fbstp_m80bcd: Mem(in ins, ref o); o.Imm = 1; o.Fn = &FpuOps.StMem<Bcd80>; return true;
            case Code.Fst_sti: return Set(ref o, &FpuOps.StReg, 0, 0, Sti(in ins));
            case Code.Fstp_sti: case Code.Fstp_sti_DFD0: case Code.Fstp_sti_DFD8: case Code.Fstpnce_sti:
                return Set(ref o, &FpuOps.StReg, 0, 1, Sti(in ins));

            case Code.Fxch_st0_sti: case Code.Fxch_st0_sti_DDC8: case Code.Fxch_st0_sti_DFC8:
                return Set(ref o, &FpuOps.Xch, 0, 0, Sti(in ins));
            case Code.Fcmovb_st0_sti: return Set(ref o, &FpuOps.Cmov, 2, 0, Sti(in ins));
            case Code.Fcmovnb_st0_sti: return Set(ref o, &FpuOps.Cmov, 3, 0, Sti(in ins));
            case Code.Fcmove_st0_sti: return Set(ref o, &FpuOps.Cmov, 4, 0, Sti(in ins));
            case Code.Fcmovne_st0_sti: return Set(ref o, &FpuOps.Cmov, 5, 0, Sti(in ins));
            case Code.Fcmovbe_st0_sti: return Set(ref o, &FpuOps.Cmov, 6, 0, Sti(in ins));
            case Code.Fcmovnbe_st0_sti: return Set(ref o, &FpuOps.Cmov, 7, 0, Sti(in ins));
            case Code.Fcmovu_st0_sti: return Set(ref o, &FpuOps.Cmov, 10, 0, Sti(in ins));
            case Code.Fcmovnu_st0_sti: return Set(ref o, &FpuOps.Cmov, 11, 0, Sti(in ins));

            case Code.Fchs: return Set(ref o, &FpuOps.Unary, 0, 0, 0);
            case Code.Fabs: return Set(ref o, &FpuOps.Unary, 1, 0, 0);
            case Code.Fsqrt: return Set(ref o, &FpuOps.Unary, 2, 0, 0);
            case Code.Frndint: return Set(ref o, &FpuOps.Unary, 3, 0, 0);
            case Code.Fscale: return Set(ref o, &FpuOps.Binary01, 0, 0, 0);
            case Code.Fprem: return Set(ref o, &FpuOps.Binary01, 1, 0, 0);
            case Code.Fprem1: return Set(ref o, &FpuOps.Binary01, 2, 0, 0);
            case Code.Fxtract: return Set(ref o, &FpuOps.Xtract, 0, 0, 0);
            case Code.Fsin: return Set(ref o, &FpuOps.Trig, 0, 0, 0);
            case Code.Fcos: return Set(ref o, &FpuOps.Trig, 1, 0, 0);
            case Code.Fsincos: return Set(ref o, &FpuOps.Trig, 2, 0, 0);
            case Code.Fptan: return Set(ref o, &FpuOps.Trig, 3, 0, 0);
            case Code.F2xm1: return Set(ref o, &FpuOps.Trig, 4, 0, 0);
            case Code.Fpatan: return Set(ref o, &FpuOps.Log, 0, 0, 0);
            case Code.Fyl2x: return Set(ref o, &FpuOps.Log, 1, 0, 0);
            case Code.Fyl2xp1: return Set(ref o, &FpuOps.Log, 2, 0, 0);

            case Code.Fincstp: return Set(ref o, &FpuOps.StackOp, 0, 0, 0);
            case Code.Fdecstp: return Set(ref o, &FpuOps.StackOp, 1, 0, 0);
            case Code.Ffree_sti: return Set(ref o, &FpuOps.StackOp, 2, 0, Sti(in ins));
            case Code.Ffreep_sti: return Set(ref o, &FpuOps.StackOp, 3, 0, Sti(in ins));
            case Code.Fnop:
            case Code.Fneni: case Code.Feni: case Code.Fndisi: case Code.Fdisi: case Code.Fnsetpm: case Code.Fsetpm:
                return Set(ref o, &FpuOps.StackOp, 4, 0, 0);

            // control: Imm bit 0 = waiting form
            case Code.Fldcw_m2byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Control, 0, 0, 0);
            case Code.Fnstcw_m2byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Control, 1, 0, 0);
            case Code.Fstcw_m2byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Control, 1, 1, 0);
            case Code.Fnstsw_m2byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Control, 2, 0, 0);
            case Code.Fstsw_m2byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Control, 2, 1, 0);
            case Code.Fnstsw_AX: return Set(ref o, &FpuOps.Control, 3, 0, 0);
            case Code.Fstsw_AX: return Set(ref o, &FpuOps.Control, 3, 1, 0);
            case Code.Fnclex: return Set(ref o, &FpuOps.Control, 4, 0, 0);
            case Code.Fclex: return Set(ref o, &FpuOps.Control, 4, 1, 0);
            case Code.Fninit: return Set(ref o, &FpuOps.Control, 5, 0, 0);
            case Code.Finit: return Set(ref o, &FpuOps.Control, 5, 1, 0);

            // environment and state: Imm bit 0 = waiting form, bit 1 = 32-bit operand size
            case Code.Fnstenv_m14byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 0, 0, 0);
            case Code.Fstenv_m14byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 0, 1, 0);
            case Code.Fnstenv_m28byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 0, 2, 0);
            case Code.Fstenv_m28byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 0, 3, 0);
            case Code.Fldenv_m14byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 1, 0, 0);
            case Code.Fldenv_m28byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 1, 2, 0);
            case Code.Fnsave_m94byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 2, 0, 0);
            case Code.Fsave_m94byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 2, 1, 0);
            case Code.Fnsave_m108byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 2, 2, 0);
            case Code.Fsave_m108byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 2, 3, 0);
            case Code.Frstor_m94byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 3, 0, 0);
            case Code.Frstor_m108byte: Mem(in ins, ref o); return Set(ref o, &FpuOps.Env, 3, 2, 0);
        }
        return false;
    }

    private static bool Set(ref Insn o, delegate*<X86Cpu, ref Insn, int> fn, int op, uint imm, int sti)
    {
        o.Fn = fn;
        o.Op = (byte)op;
        o.Imm = imm;
        o.Reg = (byte)sti;
        return true;
    }

    private static bool ArithMem<L>(in Instruction ins, ref Insn o, int op) where L : IFLoad
    {
        Mem(in ins, ref o);
        o.Op = (byte)op;
        o.Fn = &FpuOps.ArithMem<L>;
        return true;
    }

    private static bool ArithReg(in Instruction ins, ref Insn o, int op, uint form)
        => Set(ref o, &FpuOps.ArithReg, op, form, Sti(in ins) == 0 && ins.Op0Register != Register.ST0 ? ins.Op0Register - Register.ST0 : Sti(in ins));

    private static bool ComMem<L>(in Instruction ins, ref Insn o, uint pops) where L : IFLoad
    {
        Mem(in ins, ref o);
        o.Imm = pops;
        o.Fn = &FpuOps.ComMem<L>;
        return true;
    }

    private static bool ComReg(in Instruction ins, ref Insn o, int sti, uint pops, int unordered)
        => Set(ref o, &FpuOps.ComReg, unordered, pops, sti);
}
