using Emulator.Virtio;
using Machine.Tests.Support;
using NUnit.Framework;
using Qed;

namespace Machine.Tests.Virtio;

/// <summary>The virtqueue path (notify, walk, parse, submit, complete, used ring, interrupt) allocates nothing per
/// request once warm: measured with the runtime's allocation counter, not with a clock.</summary>
public class AllocationTests
{
    /// <summary>A synchronous in-memory disk that itself allocates nothing.</summary>
    private sealed class LeanDisk(long size) : IBlockDevice
    {
        private readonly byte[] data = new byte[size];
        public long Size => data.Length;
        public bool IsReadOnly => false;
        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct = default)
        {
            data.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
            return ValueTask.CompletedTask;
        }
        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            buffer.Span.CopyTo(data.AsSpan((int)offset));
            return ValueTask.CompletedTask;
        }
        public ValueTask WriteZeroesAsync(long offset, long length, CancellationToken ct = default) => ValueTask.CompletedTask;
        public ValueTask DiscardAsync(long offset, long length, CancellationToken ct = default) => ValueTask.CompletedTask;
        public ValueTask FlushAsync(CancellationToken ct = default) => ValueTask.CompletedTask;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Test]
    public void SteadyStateRequestsAllocateNothing([Values] bool modern, [Values] bool indirect)
    {
        using var rig = new VirtioRig();
        // Swap in a lean disk: a fresh device on the same bus slot would change nothing else.
        var blk = new VirtioBlk(rig.Memory, new LeanDisk(1 << 20), rig.Loop);
        var transport = new VirtioPciTransport("lean", blk, 0x010000);
        rig.Bus.Add(transport, 4);
        var d = new MiniVirtioDriver(rig.Memory, rig.Io, 4, heapStart: 0x800000);
        d.MapBars(0xC100, 0xFE10_0000);
        if (modern) Assert.That(d.InitModern(~0UL & ~(1UL << 30)), Is.True);
        else d.InitLegacy(~0UL);

        const int chains = 16;
        var heads = new ushort[chains];
        for (int i = 0; i < chains; i++)
        {
            ulong header = d.Alloc(16), data = d.Alloc(4096), status = d.Alloc(1);
            d.W32(header, i % 2 == 0 ? VirtioBlkRequest.TypeIn : VirtioBlkRequest.TypeOut);
            d.W64(header + 8, (ulong)i * 8);
            heads[i] = d.AddChain(new[] { new GuestSegment(header, 16, false), new GuestSegment(data, 4096, i % 2 == 0),
                new GuestSegment(status, 1, true) }, indirect, publish: false);
        }

        void Round()
        {
            for (int i = 0; i < chains; i++) d.Publish(heads[i]);
            d.Notify();
            rig.Loop.RunPending();
            d.ReadIsr();
        }

        for (int i = 0; i < 50; i++) Round();                       // warm up pools and lists
        // Several windows, the least counted: an allocation per request shows in every window, while a one-off
        // allocation by the runtime (tiered JIT installing code under load, a queue growing once) lands in one.
        long allocated = long.MaxValue;
        for (int window = 0; window < 4; window++)
        {
            ushort before = d.UsedIdx;
            long start = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 200; i++) Round();
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - start);
            Assert.That((ushort)(d.UsedIdx - before), Is.EqualTo((ushort)(200 * chains)), "every request completed");
        }
        // Per-request allocation shows as at least one object (24+ bytes) per request: 76,800 bytes per window.
        Assert.That(allocated, Is.LessThan(200 * chains), $"{allocated} bytes allocated for {200 * chains} requests");
    }
}
