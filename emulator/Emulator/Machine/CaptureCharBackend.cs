using System.Text;
using Emulator.Devices;

namespace Emulator.Machine;

/// <summary>
/// Guest output kept in memory (and optionally copied to a file), with a callback for every complete line:
/// how an experiment reads what the guest prints about itself. No input.
/// </summary>
public sealed class CaptureCharBackend : CharBackend
{
    private readonly MemoryStream all = new();
    private readonly List<byte> line = new();
    private readonly FileStream? copy;

    /// <param name="path">A file that receives the same bytes, or null.</param>
    /// <param name="onLine">Called on the loop thread with each line (without its end-of-line characters).</param>
    public CaptureCharBackend(string? path = null, Action<string>? onLine = null)
    {
        OnLine = onLine;
        if (path is null) return;
        try
        {
            copy = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite, 4096);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MachineOptionException($"{path}: could not open for writing: {e.Message}");
        }
    }

    public Action<string>? OnLine { get; set; }

    /// <summary>Everything the guest wrote so far.</summary>
    public byte[] Bytes => all.ToArray();

    public string Text => Encoding.UTF8.GetString(all.GetBuffer(), 0, (int)all.Length);

    public override void Write(byte value)
    {
        all.WriteByte(value);
        copy?.WriteByte(value);
        if (value == (byte)'\n')
        {
            string text = Encoding.UTF8.GetString(line.ToArray()).TrimEnd('\r');
            line.Clear();
            OnLine?.Invoke(text);
        }
        else line.Add(value);
    }

    public override void Flush() => copy?.Flush();

    public override void Dispose()
    {
        copy?.Dispose();
        base.Dispose();
    }
}
