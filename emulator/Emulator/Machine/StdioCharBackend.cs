using System.Runtime.InteropServices;
using Emulator.Devices;

namespace Emulator.Machine;

/// <summary>
/// The terminal as a serial line, like QEMU's <c>mon:stdio</c>: the terminal is put in raw mode (when stdin is
/// one), guest output goes to stdout, keys go to the guest. Ctrl-A is the escape key of QEMU's multiplexer:
/// Ctrl-A x quits, Ctrl-A h prints help, Ctrl-A Ctrl-A sends a Ctrl-A.
/// </summary>
public sealed class StdioCharBackend : CharBackend
{
    private const byte CtrlA = 0x01;
    private readonly IMachineControl machine;
    private readonly Stream input;
    private readonly Stream output;
    private readonly byte[] outBuffer = new byte[4096];
    private int outCount;
    private readonly object outLock = new();
    private Thread? reader;
    private byte[]? savedTermios;
    private bool escape;

    public StdioCharBackend(IMachineControl machine, Stream? input = null, Stream? output = null)
    {
        this.machine = machine;
        this.input = input ?? Console.OpenStandardInput();
        this.output = output ?? Console.OpenStandardOutput();
    }

    public override void Start()
    {
        if (reader != null) return;
        if (OperatingSystem.IsLinux()) EnterRawMode();
        reader = new Thread(ReadLoop) { IsBackground = true, Name = "stdio serial reader" };
        reader.Start();
    }

    public override void Write(byte value)
    {
        lock (outLock)
        {
            outBuffer[outCount++] = value;
            if (outCount == outBuffer.Length) FlushLocked();
        }
    }

    public override void Flush()
    {
        lock (outLock) FlushLocked();
    }

    private void FlushLocked()
    {
        if (outCount == 0) return;
        try
        {
            output.Write(outBuffer, 0, outCount);
            output.Flush();
        }
        catch (IOException)
        {
            // The terminal went away (closed pipe): drop output, as a serial line with nothing attached.
        }
        outCount = 0;
    }

    private void WriteHostText(string text)
    {
        lock (outLock)
        {
            FlushLocked();
            var bytes = System.Text.Encoding.ASCII.GetBytes(text.Replace("\n", "\r\n"));
            try { output.Write(bytes); output.Flush(); } catch (IOException) { }
        }
    }

    private void ReadLoop()
    {
        var buffer = new byte[256];
        var forward = new byte[256];
        while (true)
        {
            int n;
            try { n = input.Read(buffer, 0, buffer.Length); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { return; }
            if (n <= 0) return;                      // end of input: the guest just gets no more keys
            int m = 0;
            for (int i = 0; i < n; i++)
            {
                byte b = buffer[i];
                if (escape)
                {
                    escape = false;
                    switch (b)
                    {
                        case (byte)'x': case (byte)'X':
                            if (m > 0) Receive(forward.AsSpan(0, m));
                            WriteHostText("\nemu: terminated\n");
                            machine.RequestExit(0, "Ctrl-A x");
                            return;
                        case (byte)'h': case (byte)'?':
                            WriteHostText("\nC-a h    print this help\nC-a x    exit emulator\nC-a C-a  sends C-a\n");
                            continue;
                        case CtrlA:
                            forward[m++] = CtrlA;
                            continue;
                        default:
                            continue;                // other mux commands (monitor, log) are not available
                    }
                }
                if (b == CtrlA) { escape = true; continue; }
                forward[m++] = b;
            }
            if (m > 0) Receive(forward.AsSpan(0, m));
        }
    }

    // ---- raw terminal (termios) -------------------------------------------------------------------------

    [DllImport("libc", SetLastError = true)] private static extern int isatty(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int tcgetattr(int fd, byte[] termios);
    [DllImport("libc", SetLastError = true)] private static extern int tcsetattr(int fd, int optionalActions, byte[] termios);
    [DllImport("libc")] private static extern void cfmakeraw(byte[] termios);

    private void EnterRawMode()
    {
        try
        {
            if (isatty(0) != 1) return;
            var saved = new byte[256];                // larger than any libc's struct termios
            if (tcgetattr(0, saved) != 0) return;
            var raw = (byte[])saved.Clone();
            cfmakeraw(raw);
            // Keep output post-processing (NL -> CR NL) off, as QEMU does; the guest sends CR LF itself.
            if (tcsetattr(0, 0, raw) != 0) return;
            savedTermios = saved;
            AppDomain.CurrentDomain.ProcessExit += (_, _) => RestoreTerminal();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not a glibc system: leave the terminal as it is.
        }
    }

    private void RestoreTerminal()
    {
        var saved = Interlocked.Exchange(ref savedTermios, null);
        if (saved != null) tcsetattr(0, 0, saved);
    }

    public override void Dispose()
    {
        Flush();
        RestoreTerminal();
        base.Dispose();
    }
}
