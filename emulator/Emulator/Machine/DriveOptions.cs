using Emulator.Virtio;

namespace Emulator.Machine;

public enum DriveFormat { Qed, Raw }

/// <summary>
/// One <c>-drive</c> as QEMU spells it: <c>file=PATH[,format=qed|raw][,if=virtio][,readonly=on|off]
/// [,cache=writeback|none|writethrough|directsync|unsafe][,serial=S]</c>. A missing format is probed from the
/// file's first bytes (QED magic, else raw), as QEMU does.
/// </summary>
public sealed record DriveOptions
{
    public required string File { get; init; }
    public DriveFormat? Format { get; init; }
    public bool ReadOnly { get; init; }
    public DiskCacheMode Cache { get; init; } = DiskCacheMode.Writeback;
    public string Serial { get; init; } = "";

    /// <summary>Set by the board before it opens the image: the machine's clock, for the storage engine's
    /// timers (QED's need-check timer runs on guest time).</summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>Set by the board in the deterministic mode: host I/O runs on the loop thread, in guest order.</summary>
    public bool SynchronousIo { get; init; }

    public static DriveOptions Parse(string text)
    {
        const string option = "-drive";
        string? file = null;
        DriveFormat? format = null;
        bool readOnly = false;
        var cache = DiskCacheMode.Writeback;
        string serial = "";
        foreach (var (key, value) in KeyValueList.Parse(text, option, implicitKey: "file"))
        {
            switch (key)
            {
                case "file":
                    if (value.Length == 0) throw new MachineOptionException($"{option} {text}: file= is empty");
                    file = value;
                    break;
                case "format":
                    format = value switch
                    {
                        "qed" => DriveFormat.Qed,
                        "raw" => DriveFormat.Raw,
                        _ => throw new MachineOptionException($"{option} {text}: unsupported format '{value}' (use qed or raw)"),
                    };
                    break;
                case "if":
                    if (value != "virtio")
                        throw new MachineOptionException($"{option} {text}: interface '{value}' is not available (only if=virtio)");
                    break;
                case "readonly":
                    readOnly = KeyValueList.ParseBool(value, option, key);
                    break;
                case "cache":
                    cache = value switch
                    {
                        "writeback" => DiskCacheMode.Writeback,
                        "none" => DiskCacheMode.None,
                        "writethrough" => DiskCacheMode.Writethrough,
                        "directsync" => DiskCacheMode.DirectSync,
                        "unsafe" => DiskCacheMode.Unsafe,
                        _ => throw new MachineOptionException($"{option} {text}: invalid cache mode '{value}' (writeback, none, writethrough, directsync or unsafe)"),
                    };
                    break;
                case "serial":
                    if (value.Length > 20) throw new MachineOptionException($"{option} {text}: serial is longer than 20 characters");
                    if (value.Any(c => c > 0x7E || c < 0x20)) throw new MachineOptionException($"{option} {text}: serial must be printable ASCII");
                    serial = value;
                    break;
                case "media":
                    if (value != "disk") throw new MachineOptionException($"{option} {text}: only media=disk is supported");
                    break;
                default:
                    throw new MachineOptionException($"{option} {text}: unknown parameter '{key}'");
            }
        }
        if (file == null) throw new MachineOptionException($"{option} {text}: missing file=");
        return new DriveOptions { File = file, Format = format, ReadOnly = readOnly, Cache = cache, Serial = serial };
    }

    /// <summary>The format to open: the one given, else QED when the file starts with "QED\0", else raw.</summary>
    public DriveFormat ResolveFormat()
    {
        if (Format is { } f) return f;
        try
        {
            using var s = new FileStream(File, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            Span<byte> magic = stackalloc byte[4];
            return s.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("QED\0"u8)
                ? DriveFormat.Qed : DriveFormat.Raw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MachineOptionException($"-drive file={File}: could not open: {e.Message}");
        }
    }

    public VirtioBlkOptions ToVirtioOptions() => new() { ReadOnly = ReadOnly, Cache = Cache, Serial = Serial };
}
