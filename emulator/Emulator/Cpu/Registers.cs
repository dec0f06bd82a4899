using System.Runtime.CompilerServices;

namespace Emulator.Cpu;

/// <summary>
/// An operand width as a type: handlers are written once as generic methods over the width and the JIT
/// specialises them for 8, 16 and 32 bits. 8-bit register operands are byte offsets in the register file
/// (AL=0, CL=4, DL=8, BL=12, AH=1, CH=5, DH=9, BH=13), precomputed at decode time.
/// </summary>
internal interface IWidth
{
    static abstract int Bits { get; }
    static abstract uint Mask { get; }
    static abstract uint Get(X86Cpu c, int r);
    static abstract void Set(X86Cpu c, int r, uint v);
    static abstract bool Read(X86Cpu c, int seg, uint off, out uint v);
    static abstract bool Write(X86Cpu c, int seg, uint off, uint v);
    static abstract bool ReadLin(X86Cpu c, uint lin, out uint v);
    static abstract bool WriteLin(X86Cpu c, uint lin, uint v);
}

internal struct W8 : IWidth
{
    public static int Bits => 8;
    public static uint Mask => 0xFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Get(X86Cpu c, int r) => c.R8(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Set(X86Cpu c, int r, uint v) => c.R8(r) = (byte)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Read(X86Cpu c, int seg, uint off, out uint v) => c.Read8(seg, off, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Write(X86Cpu c, int seg, uint off, uint v) => c.Write8(seg, off, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool ReadLin(X86Cpu c, uint lin, out uint v) => c.ReadLin8(lin, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool WriteLin(X86Cpu c, uint lin, uint v) => c.WriteLin8(lin, v);
}

internal struct W16 : IWidth
{
    public static int Bits => 16;
    public static uint Mask => 0xFFFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Get(X86Cpu c, int r) => c.R16(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Set(X86Cpu c, int r, uint v) => c.R16(r) = (ushort)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Read(X86Cpu c, int seg, uint off, out uint v) => c.Read16(seg, off, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Write(X86Cpu c, int seg, uint off, uint v) => c.Write16(seg, off, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool ReadLin(X86Cpu c, uint lin, out uint v) => c.ReadLin16(lin, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool WriteLin(X86Cpu c, uint lin, uint v) => c.WriteLin16(lin, v);
}

internal struct W32 : IWidth
{
    public static int Bits => 32;
    public static uint Mask => 0xFFFF_FFFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Get(X86Cpu c, int r) => c.R(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Set(X86Cpu c, int r, uint v) => c.R(r) = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Read(X86Cpu c, int seg, uint off, out uint v) => c.Read32(seg, off, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Write(X86Cpu c, int seg, uint off, uint v) => c.Write32(seg, off, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool ReadLin(X86Cpu c, uint lin, out uint v) => c.ReadLin32(lin, out v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool WriteLin(X86Cpu c, uint lin, uint v) => c.WriteLin32(lin, v);
}

public sealed unsafe partial class X86Cpu
{
    internal const int EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref uint R(int r) => ref Unsafe.Add(ref Unsafe.As<Gprs, uint>(ref regs), r);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref ushort R16(int r) => ref Unsafe.As<uint, ushort>(ref Unsafe.Add(ref Unsafe.As<Gprs, uint>(ref regs), r));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref byte R8(int byteOffset) => ref Unsafe.Add(ref Unsafe.As<Gprs, byte>(ref regs), byteOffset);

    /// <summary>Byte offset of an 8-bit register given its ModRM number (AL CL DL BL AH CH DH BH).</summary>
    internal static int Reg8Offset(int n) => (n & 3) * 4 + (n >> 2);

    /// <summary>Effective address of the memory operand (SDM Vol. 2, 2.1.5), wrapped to the address size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint Ea(ref Insn i) => (i.Disp + R(i.Base) + (R(i.Index) << i.Scale)) & i.AddrMask;
}
