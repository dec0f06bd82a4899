using System.Diagnostics;
using System.Globalization;
using NUnit.Framework;

namespace Machine.Tests.Support;

/// <summary>
/// QEMU (qemu-system-i386) under its qtest protocol: the guest CPU never runs and the test performs port and
/// memory accesses on QEMU's own board. Used as the reference for what a device must look like to a guest.
/// </summary>
public sealed class QemuQtest : IDisposable
{
    private readonly Process process;

    public QemuQtest(params string[] extraArgs)
    {
        var psi = new ProcessStartInfo("qemu-system-i386")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-qtest", "stdio", "-S", "-display", "none", "-nodefaults", "-machine", "pc", "-m", "128" })
            psi.ArgumentList.Add(a);
        foreach (var a in extraArgs) psi.ArgumentList.Add(a);
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"qemu-system-i386 is needed as the reference for this test and could not be started ({e.Message}); install qemu-system-x86 (make deps)");
            throw;
        }
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
    }

    private string Command(string line)
    {
        process.StandardInput.WriteLine(line);
        process.StandardInput.Flush();
        while (true)
        {
            var task = process.StandardOutput.ReadLineAsync();
            if (!task.Wait(TimeSpan.FromSeconds(20)))
                Assert.Fail($"qemu-system-i386 did not answer '{line}'");
            string? reply = task.Result;
            if (reply == null) Assert.Fail($"qemu-system-i386 exited while answering '{line}'");
            if (reply!.StartsWith("OK", StringComparison.Ordinal)) return reply;
            if (reply.StartsWith("FAIL", StringComparison.Ordinal) || reply.StartsWith("ERR", StringComparison.Ordinal))
                Assert.Fail($"qtest '{line}': {reply}");
            // Asynchronous lines (IRQ raise/lower) are skipped.
        }
    }

    private uint Value(string line)
    {
        string reply = Command(line);
        string hex = reply[3..].Trim();
        return uint.Parse(hex.StartsWith("0x") ? hex[2..] : hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    public uint In(ushort port, int size) => Value($"in{Suffix(size)} 0x{port:x}");
    public void Out(ushort port, int size, uint value) => Command($"out{Suffix(size)} 0x{port:x} 0x{value:x}");
    public uint Read(uint address, int size) => Value($"read{Suffix(size)} 0x{address:x}");
    public void Write(uint address, int size, uint value) => Command($"write{Suffix(size)} 0x{address:x} 0x{value:x}");

    private static char Suffix(int size) => size switch { 1 => 'b', 2 => 'w', 4 => 'l', _ => throw new ArgumentException() };

    public uint ConfigRead(int device, int reg, int size)
    {
        Out(0xCF8, 4, 0x8000_0000u | (uint)device << 11 | (uint)(reg & 0xFC));
        return In((ushort)(0xCFC + (reg & 3)), size);
    }

    public void ConfigWrite(int device, int reg, int size, uint value)
    {
        Out(0xCF8, 4, 0x8000_0000u | (uint)device << 11 | (uint)(reg & 0xFC));
        Out((ushort)(0xCFC + (reg & 3)), size, value);
    }

    public void Dispose()
    {
        try
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(200)) process.Kill();
            process.WaitForExit(5000);
        }
        catch (InvalidOperationException) { }
        process.Dispose();
    }
}
