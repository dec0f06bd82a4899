using Qed;
using static EmuIo.QemuIoFormat;

namespace EmuIo;

/// <summary>
/// emu-io: qemu-io's command language over this project's block layer, so that scripts written for
/// qemu-io run unchanged against images opened through the QED engine. The command line, the command
/// loop (commands from -c, else from stdin with a prompt), the printed lines and the exit status
/// (1 when any command failed) follow qemu-io 7.2 (qemu-io.c, qemu-io-cmds.c).
/// </summary>
public static class EmuIoCli
{
    private const string Name = "emu-io";

    private static readonly IoCommand Help = new("help", "?", 0, 1, "[command]", "help for one or all commands", HelpAsync) { Global = true };
    private static readonly IoCommand Quit = new("quit", "q", -1, -1, null, "exit the program", (s, _) =>
    {
        s.QuitRequested = true;
        return Task.FromResult(0);
    }) { Global = true };

    /// <summary>The commands emu-io knows, sorted by name as qemu-io keeps its table.</summary>
    private static readonly IoCommand[] Commands =
    [
        AioCommands.AioFlush, AioCommands.AioRead, AioCommands.AioWrite, MapCommands.Alloc, ReadWriteCommands.Discard,
        ReadWriteCommands.Flush, Help, MapCommands.Length, MapCommands.Map, Quit, ReadWriteCommands.Read, ReadWriteCommands.Write,
    ];

    private const string UsageText =
        "Usage: emu-io [OPTIONS]... [-c STRING]... [file]\n" +
        "qemu-io's disk exerciser over the QED engine (formats: qed, raw)\n" +
        "\n" +
        "  -c, --cmd STRING     execute command with its arguments\n" +
        "                       from the given string\n" +
        "  -f, --format FMT     specifies the block driver to use (qed or raw; probed when absent)\n" +
        "  -r, --read-only      export read-only\n" +
        "  -n, --nocache        disable host cache, short for -t none\n" +
        "  -t, --cache=MODE     use the given cache mode for the image\n" +
        "                       (writethrough, the default, flushes after every write;\n" +
        "                       writeback and none do not; unsafe also ignores flushes)\n" +
        "  -U, --force-share    accepted for compatibility (images are opened without locks)\n" +
        "  -h, --help           display this help and exit\n" +
        "  -V, --version        output version information and exit\n" +
        "\n" +
        "Without -c, commands are read from standard input, one per line.\n" +
        "See 'emu-io -c help' for information on available commands.\n";

    public static async Task<int> RunAsync(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr, bool stdinIsTerminal = false)
    {
        var commands = new List<string>();
        string? format = null, file = null;
        bool readOnly = false, writethrough = true, noFlush = false;
        var operands = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? inline = null;
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2 && a.Contains('='))
            {
                inline = a[(a.IndexOf('=') + 1)..];
                a = a[..a.IndexOf('=')];
            }
            string? Value()
            {
                if (inline is not null) return inline;
                if (a.Length > 2 && !a.StartsWith("--", StringComparison.Ordinal)) return a[2..];
                return i + 1 < args.Length ? args[++i] : null;
            }
            string key = a.StartsWith("--", StringComparison.Ordinal) ? a : a.Length >= 2 && a[0] == '-' ? a[..2] : a;
            switch (key)
            {
                case "-c" or "--cmd":
                    if (Value() is not { } command) return MissingArgument(stderr, 'c');
                    commands.Add(command);
                    break;
                case "-f" or "--format":
                    if (Value() is not { } fmt) return MissingArgument(stderr, 'f');
                    format = fmt;
                    break;
                case "-r" or "--read-only": readOnly = true; break;
                case "-n" or "--nocache": writethrough = false; break;
                case "-t" or "--cache":
                {
                    if (Value() is not { } mode) return MissingArgument(stderr, 't');
                    switch (mode)
                    {
                        case "writethrough" or "directsync": writethrough = true; break;
                        case "writeback" or "none": writethrough = false; break;
                        case "unsafe": writethrough = false; noFlush = true; break;
                        default:
                            stderr.Write($"{Name}: Invalid cache option: {mode}\n");
                            return 1;
                    }
                    break;
                }
                case "-U" or "--force-share" or "-m" or "--misalign" or "-k" or "--native-aio": break;
                case "-i" or "--aio" or "-d" or "--discard":
                    if (Value() is null) return MissingArgument(stderr, a[1] == '-' ? a[2] : a[1]);
                    break;
                case "-h" or "--help":
                    stdout.Write(UsageText);
                    return 0;
                case "-V" or "--version":
                    stdout.Write($"{Name} version {typeof(EmuIoCli).Assembly.GetName().Version} (qemu-io 7.2 compatible)\n");
                    return 0;
                default:
                    if (a.StartsWith('-') && a.Length > 1)
                    {
                        stderr.Write($"{Name}: unsupported option '{a}' (try '{Name} --help')\n");
                        return 1;
                    }
                    operands.Add(a);
                    break;
            }
        }
        if (operands.Count > 1)
        {
            stderr.Write($"{Name}: too many arguments: only one image can be opened (try '{Name} --help')\n");
            return 1;
        }
        file = operands.Count == 1 ? operands[0] : null;

        var session = new IoSession(stdout, stderr, Name) { Writethrough = writethrough, IgnoreFlushes = noFlush };
        try
        {
            if (file is not null)
            {
                try
                {
                    ImageOpener.CheckFormatName(format);
                    session.Image = await ImageOpener.OpenAsync(file, format, new QedOpenOptions { ReadOnly = readOnly }).ConfigureAwait(false);
                }
                catch (ImageException e)
                {
                    stderr.Write($"{Name}: can't open device {file}: {OneLine(e.Message)}\n");
                    return 1;
                }
            }
            int lastError = commands.Count > 0
                ? await RunCommandsAsync(session, commands).ConfigureAwait(false)
                : await RunStdinAsync(session, stdin, stdinIsTerminal).ConfigureAwait(false);
            await session.DrainAsync().ConfigureAwait(false);
            return lastError < 0 ? 1 : 0;
        }
        catch (ImageException e)
        {
            stderr.Write($"{Name}: {OneLine(e.Message)}\n");
            return 1;
        }
        finally
        {
            try
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
            catch (ImageException e)
            {
                stderr.Write($"{Name}: {OneLine(e.Message)}\n");
            }
            stdout.Flush();
        }
    }

    private static int MissingArgument(TextWriter stderr, char option)
    {
        stderr.Write($"{Name}: option requires an argument -- '{option}' (try '{Name} --help')\n");
        return 1;
    }

    private static string OneLine(string s) => System.Text.RegularExpressions.Regex.Replace(s, @"\s+", " ").Trim();

    private static async Task<int> RunCommandsAsync(IoSession session, List<string> commands)
    {
        int lastError = 0;
        foreach (var c in commands)
        {
            if (session.QuitRequested) break;
            int ret = await ExecuteAsync(session, c).ConfigureAwait(false);
            if (ret < 0) lastError = ret;
        }
        return lastError;
    }

    /// <summary>qemu-io's command loop on stdin: a prompt before each line, lines cut at 1023 characters as fgets does.</summary>
    private static async Task<int> RunStdinAsync(IoSession session, TextReader stdin, bool terminal)
    {
        int lastError = 0;
        while (!session.QuitRequested)
        {
            session.Out.Write($"{Name}> ");
            session.Out.Flush();
            string? line = await stdin.ReadLineAsync().ConfigureAwait(false);
            if (line is null)
            {
                if (terminal) session.Out.Write("\n");
                break;
            }
            int ret = await ExecuteAsync(session, line).ConfigureAwait(false);
            if (ret < 0) lastError = ret;
        }
        return lastError;
    }

    /// <summary>qemuio_command: split on spaces, find the command, check it can run, run it.</summary>
    internal static async Task<int> ExecuteAsync(IoSession s, string line)
    {
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) return 0;
        var c = Array.Find(Commands, c => c.Name == words[0] || c.AltName == words[0]);
        if (c is null)
        {
            s.Err.Write($"command \"{words[0]}\" not found\n");
            return -EINVAL;
        }
        if (!c.Global && s.Image is null)
        {
            s.Err.Write("no file open, try 'help open'\n");
            return -EINVAL;
        }
        int argc = words.Length - 1;
        if (argc < c.ArgMin || (c.ArgMax != -1 && argc > c.ArgMax))
        {
            s.Err.Write(c.ArgMax == -1 ? $"bad argument count {argc} to {words[0]}, expected at least {c.ArgMin} arguments\n"
                : c.ArgMin == c.ArgMax ? $"bad argument count {argc} to {words[0]}, expected {c.ArgMin} arguments\n"
                : $"bad argument count {argc} to {words[0]}, expected between {c.ArgMin} and {c.ArgMax} arguments\n");
            return -EINVAL;
        }
        if (c.Writes && s.Image!.IsReadOnly)
        {
            s.Report("Block node is read-only");
            return -EPERM;
        }
        if (c.Polls) await s.DrainAsync().ConfigureAwait(false);
        return await c.Run(s, words).ConfigureAwait(false);
    }

    private static Task<int> HelpAsync(IoSession s, IReadOnlyList<string> argv)
    {
        static string OneLineHelp(string name, IoCommand c) =>
            c.Args is null ? $"{name} -- {c.OneLine}\n" : $"{name} {c.Args} -- {c.OneLine}\n";
        if (argv.Count < 2)
        {
            foreach (var c in Commands) s.Out.Write(OneLineHelp(c.Name, c));
            s.Out.Write("\nUse 'help commandname' for extended help.\n");
            return Task.FromResult(0);
        }
        var found = Array.Find(Commands, c => c.Name == argv[1] || c.AltName == argv[1]);
        if (found is null)
        {
            s.Out.Write($"command {argv[1]} not found\n");
            return Task.FromResult(-EINVAL);
        }
        s.Out.Write(OneLineHelp(argv[1], found));
        return Task.FromResult(0);
    }
}
