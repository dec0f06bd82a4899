using System.IO.Pipes;
using System.Net.Sockets;
using System.Text;
using Emulator.Devices;
using Emulator.Machine;
using Machine.Tests.Support;
using NUnit.Framework;

namespace Machine.Tests.Machine;

public class SerialBackendTests
{
    private sealed class Control : IMachineControl
    {
        public volatile string? ExitReason;
        public void RequestReset(string reason) { }
        public void RequestExit(int exitCode, string reason) => ExitReason = reason;
    }

    private sealed class Sink : ILoopWork
    {
        public void Execute() { }
    }

    private static string Drain(CharBackend b, int expected)
    {
        var sb = new StringBuilder();
        Assert.That(SpinWait.SpinUntil(() =>
        {
            while (b.TryRead(out byte x)) sb.Append((char)x);
            return sb.Length >= expected;
        }, 5000), Is.True, $"expected {expected} input bytes, got '{sb}'");
        return sb.ToString();
    }

    [Test]
    public void StdioBackendForwardsKeysAndHandlesTheCtrlAEscapes()
    {
        using var keys = new AnonymousPipeServerStream(PipeDirection.Out);
        using var keysIn = new AnonymousPipeClientStream(PipeDirection.In, keys.ClientSafePipeHandle);
        var screen = new MemoryStream();
        var control = new Control();
        var loop = new EventLoop(new VirtualClock());
        using var backend = new StdioCharBackend(control, keysIn, screen);
        backend.Attach(loop, new Sink());
        backend.Start();
        keys.Write("ls\r\u0001\u0001\u0001h"u8);
        keys.Flush();
        Assert.That(Drain(backend, 4), Is.EqualTo("ls\r\u0001"), "Ctrl-A Ctrl-A sends one Ctrl-A");
        Assert.That(SpinWait.SpinUntil(() => Encoding.ASCII.GetString(screen.ToArray()).Contains("C-a x"), 5000), Is.True, "Ctrl-A h prints help");
        Assert.That(control.ExitReason, Is.Null);
        keys.Write("\u0001x"u8);
        keys.Flush();
        Assert.That(SpinWait.SpinUntil(() => control.ExitReason != null, 5000), Is.True, "Ctrl-A x quits");
        backend.Write((byte)'A');
        backend.Flush();
        Assert.That(Encoding.ASCII.GetString(screen.ToArray()), Does.EndWith("A"));
    }

    [Test]
    public void FileBackendWritesGuestOutput()
    {
        string path = Path.GetTempFileName();
        try
        {
            using (var b = new FileCharBackend(path))
            {
                foreach (byte c in "boot log\n"u8) b.Write(c);
            }
            Assert.That(File.ReadAllText(path), Is.EqualTo("boot log\n"));
            Assert.Throws<MachineOptionException>(() => new FileCharBackend("/nonexistent/dir/log"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void TcpServerBackendCarriesBothDirections()
    {
        using var b = new TcpCharBackend(new SerialOptions { Kind = CharBackendKind.Tcp, Host = "127.0.0.1", Port = 0, Server = true, Wait = false });
        var loop = new EventLoop(new VirtualClock());
        b.Attach(loop, new Sink());
        b.Start();
        using var client = new TcpClient("127.0.0.1", b.LocalPort);
        var stream = client.GetStream();
        stream.Write("echo hi\n"u8);
        Assert.That(Drain(b, 8), Is.EqualTo("echo hi\n"));
        // Output reaches the client once it is connected.
        Assert.That(SpinWait.SpinUntil(() => { b.Write((byte)'x'); b.Flush(); return client.Available > 0; }, 5000), Is.True);
        Assert.That(stream.ReadByte(), Is.EqualTo('x'));
    }

    [Test]
    public void TcpClientBackendThatCannotConnectIsAOneLineError()
    {
        var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var b = new TcpCharBackend(new SerialOptions { Kind = CharBackendKind.Tcp, Host = "127.0.0.1", Port = port });
        var e = Assert.Throws<MachineOptionException>(() => b.Start());
        Assert.That(e!.Message, Does.Contain($"127.0.0.1:{port}"));
    }

    [Test]
    public async Task PcWiresATcpSerialPortToCom1()
    {
        string kernel = SyntheticKernel.WriteTemp(SyntheticKernel.Build());
        try
        {
            TcpCharBackend? tcp = null;
            var options = new MachineOptions
            {
                Kernel = kernel,
                DebugExit = (0x501, 2),
                Serials = new[] { SerialOptions.Parse("tcp:127.0.0.1:0,server,nowait") },
            };
            string echoed = "";
            await using var pc = new Pc(options, (m, io, pin) => new FakeCpu(m, io, pin)
            {
                Script = (c, budget) =>
                {
                    while ((c.Io.In(0x3FD, 1) & 1) != 0)
                    {
                        uint ch = c.Io.In(0x3F8, 1);
                        echoed += (char)ch;
                        c.Io.Out(0x3F8, 1, ch);                 // echo like a shell
                        if (ch == '\n') c.Io.Out(0x501, 1, 0);
                    }
                    return c.Retire(Math.Min(budget, 1000));
                },
            }, null, o => tcp = (TcpCharBackend)CharBackends.Create(o, null!), TextWriter.Null);
            var client = Task.Run(() =>
            {
                using var c = new TcpClient("127.0.0.1", tcp!.LocalPort);
                c.GetStream().Write("uname\n"u8);
                var buf = new byte[6];
                int n = 0;
                while (n < 6) n += c.GetStream().Read(buf, n, 6 - n);
                return Encoding.ASCII.GetString(buf);
            });
            var exit = pc.Run();
            Assert.That(exit.ExitCode, Is.EqualTo(1));
            Assert.That(echoed, Is.EqualTo("uname\n"));
            Assert.That(client.Wait(5000), Is.True);
            Assert.That(client.Result, Is.EqualTo("uname\n"));
        }
        finally
        {
            File.Delete(kernel);
        }
    }
}
