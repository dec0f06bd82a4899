using System.Text;
using Emulator.Devices;

namespace Machine.Tests.Support;

/// <summary>A serial line end for tests: records what the guest sends, lets the test "type".</summary>
public sealed class CaptureBackend : CharBackend
{
    private readonly List<byte> output = new();

    public override void Write(byte value)
    {
        lock (output) output.Add(value);
    }

    public byte[] Output
    {
        get { lock (output) return output.ToArray(); }
    }

    public string Text => Encoding.ASCII.GetString(Output);

    public void Type(ReadOnlySpan<byte> bytes) => Receive(bytes);

    public void Type(string text) => Receive(Encoding.ASCII.GetBytes(text));
}
