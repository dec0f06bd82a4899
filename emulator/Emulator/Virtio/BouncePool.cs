using System.Numerics;

namespace Emulator.Virtio;

/// <summary>
/// Bounce buffers for disk requests, in power-of-two size classes from 4 KiB. Unlike the shared ArrayPool it is
/// never trimmed behind the device's back, so a steady stream of requests allocates nothing; it keeps at most
/// <see cref="RetainLimit"/> bytes of idle buffers and lets the rest go.
/// </summary>
public sealed class BouncePool
{
    private const int MinShift = 12;
    private readonly Stack<byte[]>[] buckets = new Stack<byte[]>[31 - MinShift];
    private long retained;

    public long RetainLimit { get; init; } = 64L << 20;

    public BouncePool()
    {
        for (int i = 0; i < buckets.Length; i++) buckets[i] = new Stack<byte[]>();
    }

    private static int Bucket(int length) =>
        Math.Max(0, BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)Math.Max(length, 1))) - MinShift);

    public byte[] Rent(int length)
    {
        int b = Bucket(length);
        if (buckets[b].TryPop(out var array))
        {
            retained -= array.Length;
            return array;
        }
        return new byte[1 << (b + MinShift)];
    }

    public void Return(byte[] array)
    {
        if (retained + array.Length > RetainLimit) return;
        int b = Bucket(array.Length);
        if (array.Length != 1 << (b + MinShift)) return;      // not one of ours
        buckets[b].Push(array);
        retained += array.Length;
    }
}
