using System.Net;
using System.Net.Sockets;
using Emulator.Devices;

namespace Emulator.Machine;

/// <summary>
/// A serial line over TCP (<c>-serial tcp:HOST:PORT[,server][,nowait]</c>). As a server it listens and serves
/// one client at a time (a new client replaces an old one); with <c>wait</c> the machine does not start until
/// a client connects. Output while nobody is connected is dropped, as on an unplugged line.
/// </summary>
public sealed class TcpCharBackend : CharBackend
{
    private readonly SerialOptions options;
    private readonly object sync = new();
    private TcpListener? listener;
    private Socket? client;
    private readonly byte[] outBuffer = new byte[4096];
    private int outCount;
    private volatile bool disposed;

    public TcpCharBackend(SerialOptions options)
    {
        this.options = options;
        if (options.Server)
        {
            try
            {
                listener = new TcpListener(ResolveHost(options.Host), options.Port);
                listener.Start();
            }
            catch (SocketException e)
            {
                throw new MachineOptionException($"tcp:{options.Host}:{options.Port}: could not listen: {e.Message}");
            }
        }
    }

    /// <summary>The port actually listened on (useful with port 0 in tests).</summary>
    public int LocalPort => ((IPEndPoint?)listener?.LocalEndpoint)?.Port ?? options.Port;

    private static IPAddress ResolveHost(string host)
    {
        if (host is "" or "localhost") return IPAddress.Loopback;
        if (IPAddress.TryParse(host, out var a)) return a;
        return Dns.GetHostAddresses(host).First(x => x.AddressFamily == AddressFamily.InterNetwork);
    }

    public override void Start()
    {
        if (options.Server)
        {
            if (options.Wait)
            {
                Console.Error.WriteLine($"emu: waiting for connection on tcp:{options.Host}:{LocalPort},server");
                Attach(listener!.AcceptSocket());
            }
            new Thread(AcceptLoop) { IsBackground = true, Name = "serial tcp accept" }.Start();
        }
        else
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try { s.Connect(ResolveHost(options.Host), options.Port); }
            catch (SocketException e)
            {
                s.Dispose();
                throw new MachineOptionException($"tcp:{options.Host}:{options.Port}: could not connect: {e.Message}");
            }
            Attach(s);
        }
    }

    private void AcceptLoop()
    {
        while (!disposed)
        {
            Socket s;
            try { s = listener!.AcceptSocket(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            Attach(s);
        }
    }

    private void Attach(Socket s)
    {
        s.NoDelay = true;
        Socket? old;
        lock (sync) { old = client; client = s; }
        old?.Dispose();
        new Thread(() => ReadLoop(s)) { IsBackground = true, Name = "serial tcp reader" }.Start();
    }

    private void ReadLoop(Socket s)
    {
        var buffer = new byte[1024];
        while (true)
        {
            int n;
            try { n = s.Receive(buffer); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { break; }
            if (n <= 0) break;
            Receive(buffer.AsSpan(0, n));
        }
        lock (sync) if (client == s) client = null;
        s.Dispose();
    }

    public override void Write(byte value)
    {
        lock (sync)
        {
            if (client == null) return;
            outBuffer[outCount++] = value;
            if (outCount == outBuffer.Length) FlushLocked();
        }
    }

    public override void Flush()
    {
        lock (sync) FlushLocked();
    }

    private void FlushLocked()
    {
        if (outCount == 0) return;
        try { client?.Send(outBuffer, 0, outCount, SocketFlags.None); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { client = null; }
        outCount = 0;
    }

    public override void Dispose()
    {
        disposed = true;
        Flush();
        listener?.Stop();
        lock (sync) { client?.Dispose(); client = null; }
        base.Dispose();
    }
}
