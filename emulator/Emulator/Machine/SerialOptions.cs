namespace Emulator.Machine;

public enum CharBackendKind { Stdio, Null, File, Tcp }

/// <summary>
/// A character backend as <c>-serial</c> and <c>-debugcon</c> spell it: <c>stdio</c>, <c>mon:stdio</c>,
/// <c>null</c>, <c>none</c>, <c>file:PATH</c>, <c>tcp:[HOST]:PORT[,server[=on|off]][,wait[=on|off]|,nowait]</c>.
/// </summary>
public sealed record SerialOptions
{
    public required CharBackendKind Kind { get; init; }
    /// <summary>None: the port is absent (<c>-serial none</c>).</summary>
    public bool Absent { get; init; }
    public string? Path { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; }
    public bool Server { get; init; }
    public bool Wait { get; init; } = true;

    public static SerialOptions Stdio => new() { Kind = CharBackendKind.Stdio };

    public static SerialOptions Parse(string text, string option = "-serial")
    {
        switch (text)
        {
            case "stdio": case "mon:stdio": return Stdio;
            case "null": return new SerialOptions { Kind = CharBackendKind.Null };
            case "none": return new SerialOptions { Kind = CharBackendKind.Null, Absent = true };
        }
        if (text.StartsWith("file:", StringComparison.Ordinal))
        {
            string path = text[5..];
            if (path.Length == 0) throw new MachineOptionException($"{option} {text}: missing file name");
            return new SerialOptions { Kind = CharBackendKind.File, Path = path };
        }
        if (text.StartsWith("tcp:", StringComparison.Ordinal))
        {
            var items = KeyValueList.Parse(text[4..], option, implicitKey: "address");
            string address = items[0].Value;
            int colon = address.LastIndexOf(':');
            if (colon < 0 || !int.TryParse(address[(colon + 1)..], out int port) || port is < 0 or > 65535)
                throw new MachineOptionException($"{option} {text}: expected tcp:[HOST]:PORT with a port from 1 to 65535");
            string host = colon == 0 ? "127.0.0.1" : address[..colon];
            bool server = false, wait = true;
            foreach (var (key, value) in items.Skip(1))
            {
                switch (key)
                {
                    case "server": server = KeyValueList.ParseBool(value, option, key); break;
                    case "wait": wait = KeyValueList.ParseBool(value, option, key); break;
                    case "nowait": wait = false; break;
                    case "nodelay": break;
                    default: throw new MachineOptionException($"{option} {text}: unknown parameter '{key}'");
                }
            }
            if (port == 0 && !server)
                throw new MachineOptionException($"{option} {text}: port 0 (any free port) only makes sense with server");
            return new SerialOptions { Kind = CharBackendKind.Tcp, Host = host, Port = port, Server = server, Wait = wait };
        }
        int sep = text.IndexOf(':');
        string kind = sep < 0 ? text : text[..sep];
        throw new MachineOptionException($"{option} {text}: backend '{kind}' is not supported (use stdio, null, none, file:PATH or tcp:HOST:PORT)");
    }
}
