using System.Globalization;

namespace Emulator.Machine;

/// <summary>
/// Parses qemu-system-i386's flags for this PC: -m, -kernel, -initrd, -append, -drive, -serial, -debugcon,
/// -nographic, -no-reboot, -bios, -icount, -rtc, -device isa-debug-exit; -accel tcg, -cpu, -machine pc,
/// -smp 1 and -display none are accepted for compatibility. Errors are <see cref="MachineOptionException"/>s.
/// </summary>
public static class QemuCommandLine
{
    public const string Usage =
        "usage: emu [-m SIZE] [-kernel BZIMAGE [-initrd FILE] [-append CMDLINE] | -bios FILE]\n" +
        "           [-drive file=IMG,format=qed|raw,if=virtio[,readonly=on][,cache=writeback|none|writethrough|directsync|unsafe]]...\n" +
        "           [-serial stdio|null|none|file:PATH|tcp:[HOST]:PORT[,server,nowait]] [-debugcon BACKEND]\n" +
        "           [-nographic] [-no-reboot] [-icount shift=N] [-rtc base=utc|DATE]\n" +
        "           [-device isa-debug-exit[,iobase=PORT][,iosize=N]]\n" +
        "           emu bench ... | emu test-cpu DIR   (see emu bench --help, emu test-cpu --help)\n" +
        "Without -kernel the firmware (-bios, default bios.bin beside emu) boots the first disk.\n" +
        "On the console: Ctrl-A x quits, Ctrl-A h shows help.";

    /// <param name="args">The command line, without the program name.</param>
    /// <param name="defaultFirmware">The firmware booted when neither -kernel nor -bios is given (the emu command's
    /// bios.bin beside it, as qemu-system-i386 boots its own bios-256k.bin); without one that is an error.</param>
    public static MachineOptions Parse(IReadOnlyList<string> args, string? defaultFirmware = null)
    {
        var o = new MachineOptions();
        var drives = new List<DriveOptions>();
        var serials = new List<SerialOptions>();
        for (int i = 0; i < args.Count; i++)
        {
            string flag = args[i];
            string name = flag.StartsWith("--", StringComparison.Ordinal) ? flag[1..] : flag;
            string Value()
            {
                if (i + 1 >= args.Count) throw new MachineOptionException($"{flag}: requires an argument");
                return args[++i];
            }
            switch (name)
            {
                case "-m": o = o with { MemoryBytes = ParseMemory(Value()) }; break;
                case "-kernel": o = o with { Kernel = Value() }; break;
                case "-initrd": o = o with { Initrd = Value() }; break;
                case "-append": o = o with { Append = Value() }; break;
                case "-bios": o = o with { Bios = Value() }; break;
                case "-drive": drives.Add(DriveOptions.Parse(Value())); break;
                case "-serial":
                    if (serials.Count == 4) throw new MachineOptionException("-serial: at most 4 serial ports");
                    serials.Add(SerialOptions.Parse(Value()));
                    break;
                case "-debugcon": o = o with { DebugCon = SerialOptions.Parse(Value(), "-debugcon") }; break;
                case "-nographic": o = o with { NoGraphic = true }; break;
                case "-no-reboot": o = o with { NoReboot = true }; break;
                case "-icount":
                {
                    int shift = ParseIcount(Value());
                    o = o with { ClockMode = ClockMode.Deterministic, InstructionShift = shift };
                    break;
                }
                case "-rtc": o = o with { RtcBase = ParseRtc(Value()) }; break;
                case "-device": o = o with { DebugExit = ParseDevice(Value()) }; break;
                case "-accel":
                {
                    string v = Value();
                    if (v != "tcg") throw new MachineOptionException($"-accel {v}: only tcg (the interpreter) is available");
                    break;
                }
                case "-machine": case "-M":
                {
                    string v = Value();
                    string type = KeyValueList.Parse(v, flag, implicitKey: "type")[0].Value;
                    if (type != "pc" && !type.StartsWith("pc-i440fx", StringComparison.Ordinal))
                        throw new MachineOptionException($"{flag} {v}: only the i440FX PC ('pc') is emulated");
                    break;
                }
                case "-smp":
                {
                    string v = Value();
                    if (KeyValueList.Parse(v, flag, implicitKey: "cpus")[0].Value != "1")
                        throw new MachineOptionException($"-smp {v}: only one CPU is emulated");
                    break;
                }
                case "-cpu": Value(); break;                  // the CPU model is fixed (an i686 with x87)
                case "-display":
                {
                    string v = Value();
                    if (v != "none") throw new MachineOptionException($"-display {v}: there is no display; use -display none or -nographic");
                    break;
                }
                default:
                    throw new MachineOptionException(flag.StartsWith('-') ? $"{flag}: unknown option" : $"'{flag}': unexpected argument (options start with -)");
            }
        }
        o = o with { Drives = drives, Serials = serials };
        if (o.Kernel == null && o.Bios == null)
        {
            if (defaultFirmware == null)
                throw new MachineOptionException("nothing to boot: give a kernel with -kernel (or firmware with -bios)");
            if (!File.Exists(defaultFirmware))
                throw new MachineOptionException($"no -kernel or -bios given, and the default firmware '{defaultFirmware}' is missing: " +
                    "build it with 'make build', or give -bios FILE");
            o = o with { Bios = defaultFirmware };
        }
        if (o.Kernel == null && (o.Initrd != null || o.Append.Length > 0))
            throw new MachineOptionException("-initrd and -append need -kernel");
        return o;
    }

    /// <summary>-m: a size in MiB by default, or with a k/M/G suffix; also "size=...".</summary>
    public static uint ParseMemory(string text)
    {
        var items = KeyValueList.Parse(text, "-m", implicitKey: "size");
        string value = "";
        foreach (var (key, v) in items)
        {
            if (key is "size") value = v;
            else if (key is not ("slots" or "maxmem")) throw new MachineOptionException($"-m {text}: unknown parameter '{key}'");
        }
        ulong multiplier = 1UL << 20;
        string digits = value;
        char suffix = value.Length > 0 && char.IsLetter(value[^1]) ? char.ToUpperInvariant(value[^1]) : '\0';
        if (suffix != '\0') digits = value[..^1];
        if (!double.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number) || number <= 0)
            throw new MachineOptionException($"-m {text}: not a memory size (examples: 128, 256M, 1G)");
        if (suffix != '\0')
            multiplier = suffix switch
            {
                'B' => 1,
                'K' => 1UL << 10,
                'M' => 1UL << 20,
                'G' => 1UL << 30,
                'T' => 1UL << 40,
                _ => throw new MachineOptionException($"-m {text}: unknown size suffix '{value[^1]}' (use K, M or G)"),
            };
        double bytes = number * multiplier;
        const uint min = 2u << 20;
        if (bytes > Emulator.Bus.MemoryBus.MaxRamSize)
            throw new MachineOptionException($"-m {text}: at most {Emulator.Bus.MemoryBus.MaxRamSize >> 20} MiB of RAM is supported");
        if (bytes < min) throw new MachineOptionException($"-m {text}: at least 2 MiB of RAM is needed");
        // QEMU rounds RAM up to a whole page; so do we (the memory map works in 4 KiB pages).
        return (uint)(((ulong)bytes + 0xFFF) & ~0xFFFUL);
    }

    private static int ParseIcount(string text)
    {
        int shift = 0;
        foreach (var (key, value) in KeyValueList.Parse(text, "-icount", implicitKey: "shift"))
        {
            switch (key)
            {
                case "shift":
                    if (!int.TryParse(value, out shift) || shift is < 0 or > 10)
                        throw new MachineOptionException($"-icount {text}: shift must be a number from 0 to 10 (ns per instruction = 2^shift)");
                    break;
                case "sleep": case "align":
                    KeyValueList.ParseBool(value, "-icount", key);
                    break;
                default:
                    throw new MachineOptionException($"-icount {text}: unknown parameter '{key}'");
            }
        }
        return shift;
    }

    private static DateTimeOffset? ParseRtc(string text)
    {
        DateTimeOffset? result = null;
        foreach (var (key, value) in KeyValueList.Parse(text, "-rtc"))
        {
            switch (key)
            {
                case "base":
                    if (value == "utc") { result = null; break; }
                    if (value == "localtime") { result = new DateTimeOffset(DateTime.Now.Ticks, TimeSpan.Zero); break; }
                    string[] formats = { "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd" };
                    if (!DateTime.TryParseExact(value, formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
                        throw new MachineOptionException($"-rtc {text}: base must be utc, localtime, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS");
                    result = new DateTimeOffset(t, TimeSpan.Zero);
                    break;
                case "clock":
                    if (value is not ("host" or "rt" or "vm")) throw new MachineOptionException($"-rtc {text}: clock must be host, rt or vm");
                    break;
                case "driftfix":
                    break;
                default:
                    throw new MachineOptionException($"-rtc {text}: unknown parameter '{key}'");
            }
        }
        return result;
    }

    private static (ushort, int) ParseDevice(string text)
    {
        var items = KeyValueList.Parse(text, "-device", implicitKey: "driver");
        if (items[0].Value != "isa-debug-exit")
            throw new MachineOptionException($"-device {text}: only isa-debug-exit can be added (the board's other devices are built in)");
        int port = 0x501, size = 2;
        foreach (var (key, value) in items.Skip(1))
        {
            switch (key)
            {
                case "iobase": port = ParseNumber(value, text, key, 0xFFFF); break;
                case "iosize": size = ParseNumber(value, text, key, 4); break;
                default: throw new MachineOptionException($"-device {text}: unknown parameter '{key}'");
            }
        }
        if (size < 1 || port + size > 0x10000) throw new MachineOptionException($"-device {text}: iobase/iosize are out of range");
        return ((ushort)port, size);
    }

    private static int ParseNumber(string value, string text, string key, int max)
    {
        bool ok = value.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? int.TryParse(value[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int n)
            : int.TryParse(value, out n);
        if (!ok || n < 0 || n > max) throw new MachineOptionException($"-device {text}: {key}={value} is not a number up to {max}");
        return n;
    }
}
