using System.Buffers.Binary;
using System.Text;
using Emulator.Devices;
using Emulator.Machine;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Devices;

/// <summary>fw_cfg as SeaBIOS reads it, compared with QEMU's pc board (qtest) for the items it needs.</summary>
[NonParallelizable]
public class FwCfgTests
{
    private static byte[] ReadItem(Func<ushort, int, uint> inp, Action<ushort, int, uint> outp, ushort key, int length)
    {
        outp(0x510, 2, key);
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)inp(0x511, 1);
        return b;
    }

    private static Dictionary<string, (ushort Key, int Size)> Directory(Func<ushort, int, uint> inp, Action<ushort, int, uint> outp)
    {
        int count = (int)BinaryPrimitives.ReadUInt32BigEndian(ReadItem(inp, outp, FwCfg.FileDir, 4));
        var dir = ReadItem(inp, outp, FwCfg.FileDir, 4 + 64 * count);
        var result = new Dictionary<string, (ushort, int)>();
        for (int i = 0; i < count; i++)
        {
            var e = dir.AsSpan(4 + 64 * i, 64);
            string name = Encoding.ASCII.GetString(e[8..]).TrimEnd('\0');
            result[name] = (BinaryPrimitives.ReadUInt16BigEndian(e[4..]), (int)BinaryPrimitives.ReadUInt32BigEndian(e));
        }
        return result;
    }

    [Test]
    public async Task ItemsSeaBiosNeedsMatchQemu()
    {
        using var qemu = new QemuQtest();
        string kernel = SyntheticKernel.WriteTemp(SyntheticKernel.Build());
        try
        {
            await using var pc = new Pc(new MachineOptions { Kernel = kernel, MemoryBytes = 128u << 20 },
                (m, io, pin) => new FakeCpu(m, io, pin), null, _ => new NullCharBackend(), TextWriter.Null);
            Func<ushort, int, uint> ourIn = pc.Io.In, qemuIn = qemu.In;
            Action<ushort, int, uint> ourOut = pc.Io.Out, qemuOut = qemu.Out;

            Assert.That(ReadItem(ourIn, ourOut, FwCfg.Signature, 4), Is.EqualTo("QEMU"u8.ToArray()));
            foreach (var (key, len) in new[] { (FwCfg.Signature, 4), (FwCfg.RamSize, 8), (FwCfg.NbCpus, 2), (FwCfg.MaxCpus, 2) })
                Assert.That(ReadItem(ourIn, ourOut, key, len), Is.EqualTo(ReadItem(qemuIn, qemuOut, key, len)), $"item 0x{key:x}");
            Assert.That(ReadItem(ourIn, ourOut, FwCfg.Id, 4)[0] & 1, Is.EqualTo(1), "traditional I/O interface");

            var ours = Directory(ourIn, ourOut);
            var theirs = Directory(qemuIn, qemuOut);
            Assert.That(theirs.ContainsKey("etc/e820"), Is.True, "QEMU publishes etc/e820");
            var a = ReadItem(ourIn, ourOut, ours["etc/e820"].Key, ours["etc/e820"].Size);
            var b = ReadItem(qemuIn, qemuOut, theirs["etc/e820"].Key, theirs["etc/e820"].Size);
            Assert.That(a, Is.EqualTo(b), "etc/e820 contents");
        }
        finally
        {
            File.Delete(kernel);
        }
    }

    [Test]
    public void ReadsPastTheEndGiveZerosAndSelectingRestarts()
    {
        var f = new FwCfg();
        f.AddFile("opt/test", new byte[] { 1, 2, 3 });
        var io = new Emulator.Bus.IoPortBus();
        f.Register(io);
        var dir = Directory(io.In, io.Out);
        var (key, size) = dir["opt/test"];
        Assert.That(size, Is.EqualTo(3));
        Assert.That(ReadItem(io.In, io.Out, key, 5), Is.EqualTo(new byte[] { 1, 2, 3, 0, 0 }));
        Assert.That(ReadItem(io.In, io.Out, key, 2), Is.EqualTo(new byte[] { 1, 2 }));
    }
}
