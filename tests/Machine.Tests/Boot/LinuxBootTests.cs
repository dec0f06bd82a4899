using System.Buffers.Binary;
using System.Text;
using Emulator.Boot;
using Emulator.Bus;
using Emulator.Cpu;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Boot;

public class LinuxBootTests
{
    private const uint Ram = 64 << 20;
    private MemoryBus mem = null!;
    private FakeCpu cpu = null!;

    [SetUp]
    public void SetUp()
    {
        mem = new MemoryBus(Ram);
        cpu = new FakeCpu(mem, new IoPortBus(), new InterruptPin());
    }

    private byte[] Read(uint address, int length)
    {
        var b = new byte[length];
        mem.DmaRead(address, b);
        return b;
    }

    private uint U32(uint a) => BinaryPrimitives.ReadUInt32LittleEndian(Read(a, 4));

    /// <summary>Decodes a GDT descriptor the way the CPU does (base, limit with granularity, access byte).</summary>
    private (uint Base, uint Limit, byte Access, bool Big) Descriptor(uint gdt, int selector)
    {
        ulong d = BinaryPrimitives.ReadUInt64LittleEndian(Read(gdt + (uint)selector, 8));
        uint b = (uint)((d >> 16) & 0xFFFFFF) | (uint)((d >> 56) & 0xFF) << 24;
        uint limit = (uint)(d & 0xFFFF) | (uint)((d >> 48) & 0xF) << 16;
        bool g = (d >> 55 & 1) != 0;
        if (g) limit = limit << 12 | 0xFFF;
        return (b, limit, (byte)(d >> 40), (d >> 54 & 1) != 0);
    }

    [Test]
    public void ThirtyTwoBitEntryStateFollowsTheBootProtocol()
    {
        var file = SyntheticKernel.Build();
        var kernel = LinuxKernelImage.Parse(file, "synthetic");
        var initrd = Encoding.ASCII.GetBytes(new string('i', 10_000));
        var layout = LinuxBoot.Load(mem, cpu, kernel, initrd, "console=ttyS0 root=/dev/vda", E820Map.ForPc(Ram, 0));

        Assert.That(cpu.Cr0 & 1, Is.EqualTo(1u), "protected mode");
        Assert.That(cpu.Cr0 & 0x8000_0000, Is.Zero, "paging off");
        Assert.That(cpu.Eflags & 0x200, Is.Zero, "interrupts disabled");
        Assert.That(cpu.Eip, Is.EqualTo(0x100000u));
        Assert.That(cpu.GetRegister(Register32.Esi), Is.EqualTo(layout.ZeroPage));
        Assert.That(new[] { Register32.Ebp, Register32.Edi, Register32.Ebx }.Select(cpu.GetRegister), Is.All.EqualTo(0u));
        Assert.That(cpu.Segments[SegmentRegister.CS].Selector, Is.EqualTo(0x10));
        foreach (var s in new[] { SegmentRegister.DS, SegmentRegister.ES, SegmentRegister.SS })
            Assert.That(cpu.Segments[s].Selector, Is.EqualTo(0x18));
        var cs = Descriptor(cpu.Gdtr.Base, 0x10);
        var ds = Descriptor(cpu.Gdtr.Base, 0x18);
        Assert.That((cs.Base, cs.Limit, cs.Access & 0x9A, cs.Big), Is.EqualTo((0u, 0xFFFF_FFFFu, 0x9A, true)), "flat 4 GiB execute/read");
        Assert.That((ds.Base, ds.Limit, ds.Access & 0x92, ds.Big), Is.EqualTo((0u, 0xFFFF_FFFFu, 0x92, true)), "flat 4 GiB read/write");
        Assert.That(cpu.Segments[SegmentRegister.CS].Attributes & 0xFF, Is.EqualTo(cs.Access), "hidden cache matches the GDT");
        Assert.That(cpu.Gdtr.Limit, Is.GreaterThanOrEqualTo(0x1F));
    }

    [Test]
    public void ZeroPageHoldsTheHeaderAndTheLoaderFields()
    {
        var file = SyntheticKernel.Build();
        var kernel = LinuxKernelImage.Parse(file, "synthetic");
        var initrd = new byte[300_000];
        new Random(1).NextBytes(initrd);
        const string cmdline = "console=ttyS0 root=/dev/vda rw panic=-1";
        var layout = LinuxBoot.Load(mem, cpu, kernel, initrd, cmdline, E820Map.ForPc(Ram, 0));
        uint zp = layout.ZeroPage;
        var zero = Read(zp, 4096);

        int headerEnd = 0x202 + file[0x201];
        foreach (int off in new[] { 0x1F1, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207, 0x214, 0x22C, 0x238, 0x258, 0x260 })
            Assert.That(zero[off], Is.EqualTo(file[off]), $"header byte 0x{off:x} copied");
        Assert.That(zero[0x1EF], Is.Zero, "sentinel left zero");
        Assert.That(zero[headerEnd], Is.Zero, "nothing copied past the header");
        Assert.That(zero[0x210], Is.Not.Zero, "type_of_loader set");
        Assert.That(zero[0x211] & 0x81, Is.EqualTo(0x81), "LOADED_HIGH kept, CAN_USE_HEAP set");

        uint cmdPtr = BinaryPrimitives.ReadUInt32LittleEndian(zero.AsSpan(0x228));
        var cmd = Read(cmdPtr, cmdline.Length + 1);
        Assert.That(Encoding.ASCII.GetString(cmd, 0, cmdline.Length), Is.EqualTo(cmdline));
        Assert.That(cmd[^1], Is.Zero, "NUL-terminated");

        uint rdImage = BinaryPrimitives.ReadUInt32LittleEndian(zero.AsSpan(0x218));
        uint rdSize = BinaryPrimitives.ReadUInt32LittleEndian(zero.AsSpan(0x21C));
        Assert.That(rdSize, Is.EqualTo((uint)initrd.Length));
        Assert.That(rdImage % 4096, Is.Zero);
        Assert.That(rdImage + rdSize, Is.LessThanOrEqualTo(Ram));
        Assert.That(rdImage, Is.GreaterThanOrEqualTo(layout.KernelEnd), "above everything the kernel needs");
        Assert.That(Read(rdImage, initrd.Length), Is.EqualTo(initrd));

        Assert.That(Read(0x100000, file.Length - 5 * 512), Is.EqualTo(file.AsSpan(5 * 512).ToArray()), "protected-mode kernel at 1 MiB");

        int entries = zero[0x1E8];
        var e820 = Enumerable.Range(0, entries).Select(i => (
            Addr: BinaryPrimitives.ReadUInt64LittleEndian(zero.AsSpan(0x2D0 + 20 * i)),
            Size: BinaryPrimitives.ReadUInt64LittleEndian(zero.AsSpan(0x2D0 + 20 * i + 8)),
            Type: BinaryPrimitives.ReadUInt32LittleEndian(zero.AsSpan(0x2D0 + 20 * i + 16)))).ToList();
        Assert.That(e820, Does.Contain((0x100000UL, (ulong)Ram - 0x100000, 1u)), "RAM above 1 MiB is usable");
        Assert.That(e820.Where(e => e.Type == 1).All(e => e.Addr + e.Size <= 0xA0000 || e.Addr >= 0x100000), Is.True,
            "nothing between 640 KiB and 1 MiB is offered as RAM");
        Assert.That(e820.Where(e => e.Type == 1).Sum(e => (long)e.Size), Is.LessThanOrEqualTo(Ram));
    }

    [Test]
    public void RealBootProtocolImageFromSyslinuxLoads()
    {
        const string path = "/usr/lib/syslinux/memdisk";
        Assert.That(File.Exists(path), Is.True, $"{path} (Debian package syslinux-common) is the real boot-protocol image this test loads; install it (make deps)");
        var file = File.ReadAllBytes(path);
        var kernel = LinuxKernelImage.Load(path);
        Assert.That(kernel.ProtocolVersion, Is.EqualTo(BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(0x206))));
        Assert.That(kernel.SetupSectors, Is.EqualTo(file[0x1F1] == 0 ? 4 : file[0x1F1]));
        var layout = LinuxBoot.Load(mem, cpu, kernel, null, "", E820Map.ForPc(Ram, 0));
        int pm = (kernel.SetupSectors + 1) * 512;
        Assert.That(Read(0x100000, file.Length - pm), Is.EqualTo(file.AsSpan(pm).ToArray()));
        Assert.That(cpu.Eip, Is.EqualTo(BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(0x214))), "code32_start");
        Assert.That(U32(layout.ZeroPage + 0x218), Is.Zero, "no initrd");
    }

    [Test]
    public void NotABzImageIsRejectedWithAClearMessage()
    {
        var file = SyntheticKernel.Build();
        file[0x202] = (byte)'X';
        var e = Assert.Throws<BootException>(() => LinuxKernelImage.Parse(file, "vmlinux"));
        Assert.That(e!.Message, Does.Contain("not a Linux bzImage"));
    }

    [Test]
    public void OldProtocolAndZImageAreRejected()
    {
        Assert.That(Assert.Throws<BootException>(() => LinuxKernelImage.Parse(SyntheticKernel.Build(version: 0x0201), "old"))!.Message,
            Does.Contain("too old"));
        Assert.That(Assert.Throws<BootException>(() => LinuxKernelImage.Parse(SyntheticKernel.Build(loadFlags: 0), "z"))!.Message,
            Does.Contain("zImage"));
    }

    [Test]
    public void CommandLineLongerThanTheKernelAcceptsIsRejected()
    {
        var kernel = LinuxKernelImage.Parse(SyntheticKernel.Build(cmdlineSize: 16), "k");
        var e = Assert.Throws<BootException>(() => LinuxBoot.Load(mem, cpu, kernel, null, new string('x', 17), E820Map.ForPc(Ram, 0)));
        Assert.That(e!.Message, Does.Contain("at most 16"));
    }

    [Test]
    public void KernelThatNeedsMoreRamThanGivenIsRejected()
    {
        var kernel = LinuxKernelImage.Parse(SyntheticKernel.Build(initSize: 80u << 20, relocatable: false), "big");
        var e = Assert.Throws<BootException>(() => LinuxBoot.Load(mem, cpu, kernel, null, "", E820Map.ForPc(Ram, 0)));
        Assert.That(e!.Message, Does.Contain("MiB of RAM"));
    }

    [Test]
    public void InitrdThatDoesNotFitIsRejected()
    {
        var kernel = LinuxKernelImage.Parse(SyntheticKernel.Build(), "k");
        var e = Assert.Throws<BootException>(() => LinuxBoot.Load(mem, cpu, kernel, new byte[63 << 20], "", E820Map.ForPc(Ram, 0)));
        Assert.That(e!.Message, Does.Contain("initrd"));
    }

    [Test]
    public void InitrdRespectsInitrdAddrMax()
    {
        var kernel = LinuxKernelImage.Parse(SyntheticKernel.Build(initrdMax: (32u << 20) - 1), "k");
        var layout = LinuxBoot.Load(mem, cpu, kernel, new byte[100_000], "", E820Map.ForPc(Ram, 0));
        Assert.That(layout.InitrdAddress + layout.InitrdSize, Is.LessThanOrEqualTo(32u << 20));
    }

    [Test]
    public void MissingKernelFileIsAOneLineError()
    {
        var e = Assert.Throws<BootException>(() => LinuxKernelImage.Load("/nonexistent/bzImage"));
        Assert.That(e!.Message, Does.Contain("/nonexistent/bzImage").And.Not.Contain("\n"));
    }
}
