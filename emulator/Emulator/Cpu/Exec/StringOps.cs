using System.Runtime.CompilerServices;

namespace Emulator.Cpu.Exec;

/// <summary>Address size of a string instruction as a type: SI/DI/CX or ESI/EDI/ECX.</summary>
internal interface IAddr
{
    static abstract uint Get(X86Cpu c, int r);
    static abstract void Set(X86Cpu c, int r, uint v);
}
internal struct A16 : IAddr
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Get(X86Cpu c, int r) => c.R16(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Set(X86Cpu c, int r, uint v) => c.R16(r) = (ushort)v;
}
internal struct A32 : IAddr
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static uint Get(X86Cpu c, int r) => c.R(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Set(X86Cpu c, int r, uint v) => c.R(r) = v;
}

/// <summary>
/// MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS with REP/REPE/REPNE (SDM Vol. 2). Op: 0 no prefix, 1 REP/REPE,
/// 2 REPNE. Each iteration completes before the registers move, so a fault leaves a restartable state; a long
/// REP yields to the run loop every <see cref="X86Cpu.RepChunk"/> iterations by restarting itself, which lets
/// interrupts in as on a real processor.
/// </summary>
internal static class StringOps
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Step<W>(X86Cpu c) where W : IWidth
        => (c.flagsRest & X86Cpu.FlagDF) != 0 ? (uint)-(W.Bits / 8) : (uint)(W.Bits / 8);

    /// <summary>Ends one REP chunk: restart the instruction if iterations remain.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Yield(X86Cpu c, ref Insn i)
    {
        c.eip -= i.Len;
        return X86Cpu.Exit;
    }

    public static int Movs<W, A>(X86Cpu c, ref Insn i) where W : IWidth where A : IAddr
    {
        uint step = Step<W>(c);
        if (i.Op == 0)
        {
            if (!W.Read(c, i.Seg, A.Get(c, X86Cpu.ESI), out uint v)) return X86Cpu.Fault;
            if (!W.Write(c, X86Cpu.ES, A.Get(c, X86Cpu.EDI), v)) return X86Cpu.Fault;
            A.Set(c, X86Cpu.ESI, A.Get(c, X86Cpu.ESI) + step);
            A.Set(c, X86Cpu.EDI, A.Get(c, X86Cpu.EDI) + step);
            return X86Cpu.Next;
        }
        if (FastStrings.TryMovs<W, A>(c, ref i)) return X86Cpu.Next;
        for (int n = 0; A.Get(c, X86Cpu.ECX) != 0; n++)
        {
            if (n == X86Cpu.RepChunk) return Yield(c, ref i);
            if (!W.Read(c, i.Seg, A.Get(c, X86Cpu.ESI), out uint v)) return X86Cpu.Fault;
            if (!W.Write(c, X86Cpu.ES, A.Get(c, X86Cpu.EDI), v)) return X86Cpu.Fault;
            A.Set(c, X86Cpu.ESI, A.Get(c, X86Cpu.ESI) + step);
            A.Set(c, X86Cpu.EDI, A.Get(c, X86Cpu.EDI) + step);
            A.Set(c, X86Cpu.ECX, A.Get(c, X86Cpu.ECX) - 1);
        }
        return X86Cpu.Next;
    }

    public static int Stos<W, A>(X86Cpu c, ref Insn i) where W : IWidth where A : IAddr
    {
        uint step = Step<W>(c);
        uint v = W.Get(c, 0);
        if (i.Op == 0)
        {
            if (!W.Write(c, X86Cpu.ES, A.Get(c, X86Cpu.EDI), v)) return X86Cpu.Fault;
            A.Set(c, X86Cpu.EDI, A.Get(c, X86Cpu.EDI) + step);
            return X86Cpu.Next;
        }
        if (FastStrings.TryStos<W, A>(c, v)) return X86Cpu.Next;
        for (int n = 0; A.Get(c, X86Cpu.ECX) != 0; n++)
        {
            if (n == X86Cpu.RepChunk) return Yield(c, ref i);
            if (!W.Write(c, X86Cpu.ES, A.Get(c, X86Cpu.EDI), v)) return X86Cpu.Fault;
            A.Set(c, X86Cpu.EDI, A.Get(c, X86Cpu.EDI) + step);
            A.Set(c, X86Cpu.ECX, A.Get(c, X86Cpu.ECX) - 1);
        }
        return X86Cpu.Next;
    }

    public static int Lods<W, A>(X86Cpu c, ref Insn i) where W : IWidth where A : IAddr
    {
        uint step = Step<W>(c);
        if (i.Op == 0)
        {
            if (!W.Read(c, i.Seg, A.Get(c, X86Cpu.ESI), out uint v)) return X86Cpu.Fault;
            W.Set(c, 0, v);
            A.Set(c, X86Cpu.ESI, A.Get(c, X86Cpu.ESI) + step);
            return X86Cpu.Next;
        }
        for (int n = 0; A.Get(c, X86Cpu.ECX) != 0; n++)
        {
            if (n == X86Cpu.RepChunk) return Yield(c, ref i);
            if (!W.Read(c, i.Seg, A.Get(c, X86Cpu.ESI), out uint v)) return X86Cpu.Fault;
            W.Set(c, 0, v);
            A.Set(c, X86Cpu.ESI, A.Get(c, X86Cpu.ESI) + step);
            A.Set(c, X86Cpu.ECX, A.Get(c, X86Cpu.ECX) - 1);
        }
        return X86Cpu.Next;
    }

    public static int Cmps<W, A>(X86Cpu c, ref Insn i) where W : IWidth where A : IAddr
    {
        uint step = Step<W>(c);
        for (int n = 0; ; n++)
        {
            if (i.Op != 0)
            {
                if (A.Get(c, X86Cpu.ECX) == 0) return X86Cpu.Next;
                if (n == X86Cpu.RepChunk) return Yield(c, ref i);
            }
            if (!W.Read(c, i.Seg, A.Get(c, X86Cpu.ESI), out uint a)) return X86Cpu.Fault;
            if (!W.Read(c, X86Cpu.ES, A.Get(c, X86Cpu.EDI), out uint b)) return X86Cpu.Fault;
            OpCmp.Do<W>(c, a, b);
            A.Set(c, X86Cpu.ESI, A.Get(c, X86Cpu.ESI) + step);
            A.Set(c, X86Cpu.EDI, A.Get(c, X86Cpu.EDI) + step);
            if (i.Op == 0) return X86Cpu.Next;
            A.Set(c, X86Cpu.ECX, A.Get(c, X86Cpu.ECX) - 1);
            if (c.ZFb != (i.Op == 1)) return X86Cpu.Next;
        }
    }

    public static int Scas<W, A>(X86Cpu c, ref Insn i) where W : IWidth where A : IAddr
    {
        uint step = Step<W>(c);
        uint acc = W.Get(c, 0);
        for (int n = 0; ; n++)
        {
            if (i.Op != 0)
            {
                if (A.Get(c, X86Cpu.ECX) == 0) return X86Cpu.Next;
                if (n == X86Cpu.RepChunk) return Yield(c, ref i);
            }
            if (!W.Read(c, X86Cpu.ES, A.Get(c, X86Cpu.EDI), out uint b)) return X86Cpu.Fault;
            OpCmp.Do<W>(c, acc, b);
            A.Set(c, X86Cpu.EDI, A.Get(c, X86Cpu.EDI) + step);
            if (i.Op == 0) return X86Cpu.Next;
            A.Set(c, X86Cpu.ECX, A.Get(c, X86Cpu.ECX) - 1);
            if (c.ZFb != (i.Op == 1)) return X86Cpu.Next;
        }
    }

    /// <summary>INS: the destination is checked before the port is read (a port read has side effects).</summary>
    public static int Ins<W, A>(X86Cpu c, ref Insn i) where W : IWidth where A : IAddr
    {
        ushort port = c.R16(X86Cpu.EDX);
        if (!c.CheckIoPermission(port, W.Bits / 8)) return X86Cpu.Fault;
        uint step = Step<W>(c);
        for (int n = 0; ; n++)
        {
            if (i.Op != 0)
            {
                if (A.Get(c, X86Cpu.ECX) == 0) return X86Cpu.Exit;
                if (n == X86Cpu.RepChunk) return Yield(c, ref i);
            }
            uint di = A.Get(c, X86Cpu.EDI);
            if (!c.CheckSegment(X86Cpu.ES, di, W.Bits / 8, true) ||
                !c.ProbeWrite(c.Seg(X86Cpu.ES).Base + di, W.Bits / 8)) return X86Cpu.Fault;
            uint v = c.Io.In(port, W.Bits / 8);
            W.Write(c, X86Cpu.ES, di, v);
            A.Set(c, X86Cpu.EDI, di + step);
            if (i.Op == 0) return X86Cpu.Exit;
            A.Set(c, X86Cpu.ECX, A.Get(c, X86Cpu.ECX) - 1);
        }
    }

    public static int Outs<W, A>(X86Cpu c, ref Insn i) where W : IWidth where A : IAddr
    {
        ushort port = c.R16(X86Cpu.EDX);
        if (!c.CheckIoPermission(port, W.Bits / 8)) return X86Cpu.Fault;
        uint step = Step<W>(c);
        for (int n = 0; ; n++)
        {
            if (i.Op != 0)
            {
                if (A.Get(c, X86Cpu.ECX) == 0) return X86Cpu.Exit;
                if (n == X86Cpu.RepChunk) return Yield(c, ref i);
            }
            if (!W.Read(c, i.Seg, A.Get(c, X86Cpu.ESI), out uint v)) return X86Cpu.Fault;
            c.Io.Out(port, W.Bits / 8, v);
            A.Set(c, X86Cpu.ESI, A.Get(c, X86Cpu.ESI) + step);
            if (i.Op == 0) return X86Cpu.Exit;
            A.Set(c, X86Cpu.ECX, A.Get(c, X86Cpu.ECX) - 1);
        }
    }
}

/// <summary>Selects the bulk paths of <see cref="X86Cpu.BulkRepMovs"/> and <see cref="X86Cpu.BulkRepStos"/>:
/// 32-bit addressing going forward (DF = 0).</summary>
internal static class FastStrings
{
    public static bool TryMovs<W, A>(X86Cpu c, ref Insn i) where W : IWidth where A : IAddr
        => typeof(A) == typeof(A32) && (c.flagsRest & X86Cpu.FlagDF) == 0 && c.BulkRepMovs(i.Seg, W.Bits / 8);

    public static bool TryStos<W, A>(X86Cpu c, uint v) where W : IWidth where A : IAddr
        => typeof(A) == typeof(A32) && (c.flagsRest & X86Cpu.FlagDF) == 0 && c.BulkRepStos(v, W.Bits / 8);
}
