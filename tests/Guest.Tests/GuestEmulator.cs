namespace Guest.Tests;

/// <summary>
/// An emulator the guest tests boot: its program and the flags it needs beyond the machine flags the tests pass
/// (-m, -nographic, -no-reboot, -kernel, -append, -drive, all spelled as qemu-system-i386 spells them).
/// The fixtures take one of these as their parameter; GUEST_EMULATORS (comma-separated names, default "emu,qemu":
/// every whole-guest test runs on this project's PC and, as the known-good reference, on QEMU) selects which
/// ones run.
/// </summary>
public sealed record GuestEmulator(string Name, string Program, IReadOnlyList<string> ExtraArgs)
{
    /// <summary>
    /// QEMU's PC under TCG with the guest's CPU model, the debug-exit port its poweroff writes, and no network
    /// card (this project's PC has none, and QEMU's default one brings an iPXE option ROM into the boot).
    /// </summary>
    public static GuestEmulator Qemu { get; } = new("qemu", "qemu-system-i386",
        ["-accel", "tcg", "-cpu", "pentium3", "-nic", "none", "-device", "isa-debug-exit,iobase=0x501,iosize=2"]);

    /// <summary>This project's PC (bin/emu); its debug-exit port at 0x501 is part of the board.</summary>
    public static GuestEmulator Emu { get; } = new("emu", Path.Combine(Repo.Root, "bin", "emu"), []);

    /// <summary>Exit status after the guest's poweroff (value 0 written to port 0x501: (0 &lt;&lt; 1) | 1).</summary>
    public const int PowerOffStatus = 1;

    public static IEnumerable<GuestEmulator> Selected()
    {
        var names = Environment.GetEnvironmentVariable("GUEST_EMULATORS");
        foreach (var name in (string.IsNullOrWhiteSpace(names) ? "emu,qemu" : names).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            yield return name switch
            {
                "qemu" => Qemu,
                "emu" => Emu,
                _ => throw new ArgumentException($"GUEST_EMULATORS: unknown emulator '{name}' (known: qemu, emu)"),
            };
    }

    /// <summary>
    /// Flags that send what firmware writes to the debug console port 0x402 (where SeaBIOS logs) into a file.
    /// QEMU's -debugcon puts its device at 0xE9, so QEMU gets the device spelled out with that port.
    /// </summary>
    public IReadOnlyList<string> DebugConsoleToFile(string path) => Name == "qemu"
        ? ["-chardev", $"file,id=debugcon,path={path}", "-device", "isa-debugcon,iobase=0x402,chardev=debugcon"]
        : ["-debugcon", $"file:{path}"];

    /// <summary>The full argument list: the emulator's own flags, then the machine flags of the test.</summary>
    public IReadOnlyList<string> Arguments(IEnumerable<string> machine) => [.. ExtraArgs, .. machine];

    public override string ToString() => Name;
}
