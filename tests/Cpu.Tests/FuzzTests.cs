using Emulator.Bus;
using Emulator.Cpu;
using NUnit.Framework;

namespace Cpu.Tests;

/// <summary>Random bytes executed as code, in real mode and in 16- and 32-bit protected mode with random
/// register values: whatever the guest does, the CPU answers with guest-visible behaviour (results,
/// exceptions, shutdown) and never with an exception in the host.</summary>
public class FuzzTests
{
    [TestCase(0, 1)]
    [TestCase(1, 2)]
    [TestCase(2, 3)]
    public void RandomCodeNeverThrowsInTheHost(int mode, int seed)
    {
        var rng = new Random(seed);
        var bus = new MemoryBus(2u << 20);
        var io = new IoPortBus();
        var cpu = new X86Cpu(bus, io, new InterruptPin());
        var code = new byte[256];
        long executed = 0;
        for (int round = 0; round < 3000; round++)
        {
            cpu.Reset();
            rng.NextBytes(code);
            uint at = 0x1000 + (uint)rng.Next(0x10000);
            bus.DmaWrite(at, code);
            // A few random bytes elsewhere: descriptor tables, stack, data.
            for (int k = 0; k < 64; k++) bus.Write8((uint)rng.Next(0x20000), (byte)rng.Next(256));
            for (int r = 0; r < 8; r++) cpu.SetRegister((Register32)r, (uint)rng.Next() & (rng.Next(2) == 0 ? 0xFFFFu : 0xFFFF_FFFFu));
            cpu.Eflags = (uint)rng.Next() & 0x0CD5;
            if (mode == 0)
            {
                cpu.SetSegment(SegmentRegister.CS, (ushort)(at >> 4 & 0xF000), at & 0xF0000, 0xFFFF, 0x9B);
                cpu.Eip = at & 0xFFFF;
            }
            else
            {
                bool big = mode == 2;
                cpu.SetGdtr(0x100, (ushort)rng.Next(0x200));
                cpu.SetIdtr(0x800, (ushort)rng.Next(0x800));
                cpu.Cr0 = 0x11 | (rng.Next(4) == 0 ? 0x8000_0000u : 0);
                cpu.Cr3 = (uint)rng.Next(0x200) << 12;
                ushort attrCode = (ushort)(big ? 0xC09B : 0x009B), attrData = (ushort)(big ? 0xC093 : 0x0093);
                cpu.SetSegment(SegmentRegister.CS, 0x08, 0, big ? 0xFFFF_FFFF : 0xFFFF, attrCode);
                foreach (var s in new[] { SegmentRegister.DS, SegmentRegister.ES, SegmentRegister.SS, SegmentRegister.FS })
                    cpu.SetSegment(s, 0x10, 0, big ? 0xFFFF_FFFF : 0xFFFF, attrData);
                cpu.Eip = big ? at : at & 0xFFFF;
            }
            long before = cpu.InstructionCount;
            Assert.DoesNotThrow(() => cpu.Run(200), $"round {round}: bytes {Convert.ToHexString(code, 0, 16)}...");
            executed += cpu.InstructionCount - before;
        }
        Assert.That(executed, Is.GreaterThan(3000), "the fuzzer reached past the first instructions");
    }
}
