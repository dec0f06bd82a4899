using Cpu.Tests.Support;
using NUnit.Framework;

namespace Cpu.Tests;

/// <summary>
/// Protected-mode and paging programs (Programs/*.asm), run from the reset vector. Each program prints the
/// values it observed; every value is checked against what the SDM specifies, and the whole output is
/// compared with qemu-system-i386 running the same image, except for the few lines where QEMU's TCG is known
/// to simplify the architecture (listed with the reason).
/// </summary>
public class ProtectedModeTests
{
    /// <summary>Lines where QEMU (7.2, TCG) departs from the SDM, so the SDM's value is the reference.</summary>
    private static readonly Dictionary<string, string> QemuDeviations = new()
    {
        ["small.vec"] = "QEMU's TCG does not check data segment limits",
        ["small.err"] = "QEMU's TCG does not check data segment limits",
        ["small.vec2"] = "QEMU's TCG does not check data segment limits",
        ["xdown.vec"] = "QEMU's TCG does not check expand-down limits",
        ["null.vec"] = "QEMU's TCG does not fault on accesses through a null selector",
        ["null.err"] = "QEMU's TCG does not fault on accesses through a null selector",
        ["ro.vec"] = "QEMU's TCG does not check the writable bit on data accesses",
        ["faults"] = "counts the faults above that QEMU does not raise",
        ["mf.sw"] = "QEMU pops the stack on an unmasked x87 exception; the SDM (Vol. 1, 8.5.1) leaves TOP unchanged",
        ["ac.vec"] = "QEMU's TCG does not implement alignment checking (#AC)",
        ["ac.err"] = "QEMU's TCG does not implement alignment checking (#AC)",
        ["ldt.limit.vec"] = "QEMU's TCG does not check data segment limits",
        ["ss.vec"] = "QEMU's TCG does not check stack segment limits",
        ["ss.err"] = "QEMU's TCG does not check stack segment limits",
    };

    private static void Expect(Dictionary<string, uint> got, Dictionary<string, uint> expected)
    {
        Assert.Multiple(() =>
        {
            foreach (var (k, v) in expected)
            {
                Assert.That(got.ContainsKey(k), Is.True, $"the program did not report {k}");
                if (got.TryGetValue(k, out uint g)) Assert.That(g, Is.EqualTo(v), $"{k}: got 0x{g:X8}, expected 0x{v:X8}");
            }
        });
    }

    private static void MatchesQemu(string program)
    {
        var ours = RomPrograms.RunOnEmulator(program);
        var qemu = RomPrograms.RunOnQemu(program);
        Assert.Multiple(() =>
        {
            Assert.That(ours.Keys, Is.EquivalentTo(qemu.Keys), "both runs report the same lines");
            foreach (var (k, q) in qemu)
            {
                if (QemuDeviations.ContainsKey(k) || !ours.TryGetValue(k, out uint o)) continue;
                Assert.That(o, Is.EqualTo(q), $"{k}: emulator 0x{o:X8}, qemu 0x{q:X8}");
            }
        });
    }

    [TestCase("pm_basic")]
    [TestCase("paging")]
    [TestCase("rings")]
    [TestCase("double_fault")]
    [TestCase("pm16")]
    public void OutputMatchesQemu(string program) => MatchesQemu(program);

    [Test]
    public void LdtSegmentsAnd16BitProtectedModeWork()
    {
        var r = RomPrograms.RunOnEmulator("pm16");
        Expect(r, new()
        {
            ["ldtr"] = 0x80, ["ldt.write"] = 0x55AA, ["ldt.limit.vec"] = 13,
            ["ldt.sel.vec"] = 13, ["ldt.sel.err"] = 0x1C,          // selector beyond the LDT limit
            // INT through a 16-bit gate: a three-word frame (FLAGS, CS, IP), IF cleared, 16-bit IRET.
            ["int16.ax"] = 0x1234 + 0x1111, ["int16.sp.entry"] = 0x6000 - 6, ["int16.sp.after"] = 0x6000,
            ["int16.cs"] = 0x70, ["int16.ip"] = 0, ["int16.if"] = 0, ["cs.back"] = 0x08,
        });
    }

    [Test]
    public void SegmentChecksAndInstructionExceptionsFollowTheSdm()
    {
        var r = RomPrograms.RunOnEmulator("pm_basic");
        Expect(r, new()
        {
            ["cr0.pe"] = 1, ["cs"] = 0x08, ["data.access"] = 0x00CF_9300,
            ["small.read"] = 0x1234_5678, ["small.vec"] = 13, ["small.err"] = 0, ["small.vec2"] = 13,
            ["xdown.same"] = 1, ["xdown.vec"] = 13,
            ["null.vec"] = 13, ["null.err"] = 0,
            ["ro.read"] = 0x1234_5678, ["ro.vec"] = 13, ["ro.ss.vec"] = 13, ["ro.ss.err"] = 0x48,
            ["np.vec"] = 11, ["np.err"] = 0x50,
            ["gdtlimit.vec"] = 13, ["gdtlimit.err"] = 0x1F8,
            ["rpl.vec"] = 13, ["rpl.err"] = 0x10, ["es.user"] = 0x23,
            ["lar.data"] = 0x00C0_9300, ["lsl.small"] = 0xFFF, ["lsl.code"] = 0xFFFF_FFFF,
            ["lar.null.zf"] = 0, ["lar.null.eax"] = 0x5A5A_5A5A,
            ["verr.code"] = 1, ["verw.code"] = 0, ["verw.data"] = 1, ["verw.ro"] = 0,
            ["de.vec"] = 0, ["de.eip"] = 0, ["bp.vec"] = 3, ["bp.eip"] = 1, ["of.vec"] = 4, ["br.vec"] = 5,
            ["ud.vec"] = 6, ["nm.vec"] = 7,
            // ZE, ES and B set; TOP = 6 because the faulting FDIVP neither stored nor popped.
            ["mf.sw"] = 0x8000 | 6 << 11 | 0x80 | 0x04, ["mf.vec"] = 16,
            ["npgate.vec"] = 11, ["npgate.err"] = 0x30 * 8 + 2,
            ["idtlimit.vec"] = 13, ["idtlimit.err"] = 0x40 * 8 + 2,
            ["ts.vec"] = 10, ["ts.err"] = 0x60,                 // TSS limit below 0x67
            ["faults"] = 19,
        });
    }

    [Test]
    public void PageFaultsAreResolvedAndAccessedDirtyAndWriteProtectFollowTheSdm()
    {
        var r = RomPrograms.RunOnEmulator("paging");
        Expect(r, new()
        {
            ["pse.read"] = 0xA5A5_0001,
            // Write to a not-present page: error code W (bit 1); the handler maps it and the write is redone.
            ["pf.cr2"] = 0x30_0004, ["pf.err"] = 2, ["pf.count"] = 1, ["pf.value"] = 0xCAFE_0001,
            // PTE 0x200000|P|W|U, then A (0x20) on a read, D (0x40) on a write; the PDE gets A; the 4 MiB PDE A and D.
            ["ad.before"] = 0x20_0007, ["ad.read"] = 0x20_0027, ["ad.write"] = 0x20_0067, ["ad.pde"] = 0x10_1027,
            ["pse.pde"] = 0x80_0000 | 0x87 | 0x20 | 0x40,
            // Without CR0.WP ring 0 writes read-only pages; with it, #PF with P|W.
            ["wp.off"] = 0x11, ["wp.vec"] = 14, ["wp.err"] = 3, ["wp.cr2"] = 0x21_0000, ["wp.value"] = 0x11,
            ["tlb.old"] = 0xC0C0_0001, ["invlpg.read"] = 0xB0B0_0001, ["cr3.read"] = 0xB0B0_0002,
            ["pde.vec"] = 14, ["pde.err"] = 0, ["pde.cr2"] = 0x80_0000,
            ["nopg.read"] = 0, ["nopg.phys"] = 0xCAFE_0001,
            // Changing CR4.PGE and INVLPG both drop global translations (SDM Vol. 3, 4.10.4.1).
            ["pge.toggle"] = 0xB0B0_0003, ["pge.invlpg"] = 0xB0B0_0004,
        });
    }

    [Test]
    public void Ring3ReachesRing0ThroughGatesAndSysenterAndIsStoppedElsewhere()
    {
        var r = RomPrograms.RunOnEmulator("rings");
        Expect(r, new()
        {
            ["user.cpl"] = 3,
            // INT 0x80 from ring 3: stack switched to TSS.SS0:ESP0 (0x8C000) with a five-dword frame.
            ["int.cpl"] = 3, ["int.esp"] = 0x8C000 - 20, ["int.ss"] = 0x10, ["int.result"] = 20 * 3 + 1,
            // SYSENTER: CS = IA32_SYSENTER_CS, SS = CS + 8, ESP = IA32_SYSENTER_ESP; SYSEXIT: CS = CS + 16 | 3.
            ["se.cs"] = 0x08, ["se.esp"] = 0x8F000, ["se.ss"] = 0x10, ["sx.cs"] = 0x1B, ["sx.esp"] = 0x80000,
            // The call gate copies one parameter; RETF 4 returns to ring 3 and releases it.
            ["cg.param"] = 0x1234, ["cg.cs"] = 0x1B, ["cg.oldss"] = 0x23, ["cg.esp"] = 0x80000,
            ["hlt.vec"] = 13, ["hlt.err"] = 0,
            ["io.ok"] = 1, ["io.vec"] = 13,
            ["pf.vec"] = 14, ["pf.err"] = 5,                    // P | U, read
            ["gate.vec"] = 13, ["gate.err"] = 0x81 * 8 + 2,     // DPL-0 gate from ring 3
            ["cli.vec"] = 13,
            ["ac.ok"] = 1, ["ac.vec"] = 17, ["ac.err"] = 0,
            ["ss.vec"] = 12, ["ss.err"] = 0,                    // push beyond the stack segment limit
        });
    }

    [Test]
    public void DoubleFaultSwitchesToTheTaskOfItsTaskGate()
    {
        var r = RomPrograms.RunOnEmulator("double_fault");
        Expect(r, new()
        {
            ["df.tr"] = 0x30, ["df.link"] = 0x28, ["df.cs"] = 0x08,
            // Error code 0 on the new task's stack (ESP 0x70000 - 4, then PUSHAD in the report macro).
            ["df.err"] = 0, ["df.esp"] = 0x70000 - 4 - 32,
            ["df.nt"] = 1, ["df.cr0.ts"] = 1,
            ["df.cr2"] = 0x380FFC,                              // the second fault: the push of the first
            ["df.old.eip"] = 0, ["df.old.esp"] = 0x381000,
            ["df.tss0.type"] = 0x8B, ["df.tss1.type"] = 0x8B,   // both busy: the switch nests like a CALL
        });
    }
}
