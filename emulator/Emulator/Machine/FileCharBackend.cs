using Emulator.Devices;

namespace Emulator.Machine;

/// <summary>Guest output appended to a file (<c>-serial file:PATH</c>); no input.</summary>
public sealed class FileCharBackend : CharBackend
{
    private readonly FileStream stream;

    public string Path { get; }

    public FileCharBackend(string path)
    {
        Path = path;
        try
        {
            stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite, 4096);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MachineOptionException($"file:{path}: could not open for writing: {e.Message}");
        }
    }

    public override void Write(byte value) => stream.WriteByte(value);

    public override void Flush() => stream.Flush();

    public override void Dispose()
    {
        stream.Dispose();
        base.Dispose();
    }
}
