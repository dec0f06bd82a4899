using System.Globalization;
using NUnit.Framework;

namespace Cpu.Tests.Support;

/// <summary>Assembles the ROM test programs (Programs/*.asm) with nasm and runs them on the emulator and on
/// qemu-system-i386. Results are the "name=XXXXXXXX" lines the programs print.</summary>
internal static class RomPrograms
{
    private static readonly Dictionary<string, byte[]> images = new();
    private static readonly Dictionary<string, Dictionary<string, uint>> qemuResults = new();

    private static string ProgramsDir => Path.Combine(TestContext.CurrentContext.TestDirectory, "Programs");

    public static string ImagePath(string name)
    {
        lock (images)
        {
            string bin = Path.Combine(ExternalTool.TempDir("roms"), name + ".bin");
            if (images.ContainsKey(name)) return bin;
            string nasm = ExternalTool.Require("nasm", "nasm");
            var (code, _, err) = ExternalTool.Run(nasm, new[] { "-f", "bin", "-I", ProgramsDir + "/", "-o", bin, Path.Combine(ProgramsDir, name + ".asm") });
            if (code != 0) Assert.Fail($"nasm could not assemble {name}.asm:\n{err}");
            images[name] = File.ReadAllBytes(bin);
            return bin;
        }
    }

    public static byte[] Image(string name)
    {
        ImagePath(name);
        lock (images) return images[name];
    }

    public static Dictionary<string, uint> RunOnEmulator(string name, out RomMachine machine)
    {
        machine = new RomMachine(Image(name));
        return Parse(machine.Run(), "the emulator");
    }

    public static Dictionary<string, uint> RunOnEmulator(string name) => RunOnEmulator(name, out _);

    public static Dictionary<string, uint> RunOnQemu(string name)
    {
        lock (qemuResults)
        {
            if (qemuResults.TryGetValue(name, out var cached)) return cached;
            string qemu = ExternalTool.Require("qemu-system-i386", "qemu-system-x86");
            string rom = ImagePath(name);
            string log = Path.Combine(ExternalTool.TempDir("qemu"), name + ".txt");
            File.Delete(log);
            var (_, _, err) = ExternalTool.Run(qemu, new[]
            {
                "-M", "pc", "-cpu", "pentium2", "-m", "32", "-bios", rom, "-display", "none", "-no-reboot",
                "-nodefaults", "-debugcon", "file:" + log, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            }, timeoutMs: 60_000);
            if (!File.Exists(log)) Assert.Fail($"qemu-system-i386 produced no output for {name}: {err}");
            var r = Parse(File.ReadAllText(log), "qemu-system-i386");
            qemuResults[name] = r;
            return r;
        }
    }

    private static Dictionary<string, uint> Parse(string text, string who)
    {
        if (!text.Contains("done\n")) Assert.Fail($"{who} did not finish the program; output:\n{text}");
        var r = new Dictionary<string, uint>();
        foreach (var line in text.Split('\n'))
        {
            int eq = line.IndexOf('=');
            if (eq <= 0) continue;
            r[line[..eq]] = uint.Parse(line[(eq + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }
        return r;
    }
}
