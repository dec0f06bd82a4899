namespace Emulator.Machine;

/// <summary>Everything that defines one run of the PC, as parsed from qemu-system-i386 style flags.</summary>
public sealed record MachineOptions
{
    public const uint DefaultMemory = 128u << 20;

    public uint MemoryBytes { get; init; } = DefaultMemory;
    public string? Kernel { get; init; }
    public string? Initrd { get; init; }
    public string Append { get; init; } = "";
    public string? Bios { get; init; }
    public IReadOnlyList<DriveOptions> Drives { get; init; } = Array.Empty<DriveOptions>();
    /// <summary>COM1..COM4 in order; empty means COM1 on stdio.</summary>
    public IReadOnlyList<SerialOptions> Serials { get; init; } = Array.Empty<SerialOptions>();
    public SerialOptions? DebugCon { get; init; }
    public bool NoGraphic { get; init; }
    public bool NoReboot { get; init; }
    public ClockMode ClockMode { get; init; } = ClockMode.Host;
    public int InstructionShift { get; init; }
    /// <summary>The RTC's starting wall clock; null means the host's time (host mode) or 2000-01-01 (deterministic).</summary>
    public DateTimeOffset? RtcBase { get; init; }
    /// <summary>isa-debug-exit port range. This board always has the device (QEMU's default iobase 0x501,
    /// iosize 2), so a guest and the firmware can end a run; <c>-device isa-debug-exit,iobase=..</c> moves it.</summary>
    public (ushort Port, int Size)? DebugExit { get; init; } = (0x501, 2);

    /// <summary>The wall clock the RTC starts from.</summary>
    public DateTimeOffset RtcStart =>
        RtcBase ?? (ClockMode == ClockMode.Deterministic ? new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero) : DateTimeOffset.UtcNow);
}
