namespace EmuIo;

/// <summary>
/// GNU getopt as qemu-io's commands use it: short options, clustered ("-qv") or with their argument
/// attached ("-P5") or following; non-options are permuted to the end, "--" ends the options. Errors
/// are printed to stderr in glibc's words, prefixed with the command's name.
/// </summary>
internal sealed class Getopt
{
    private readonly List<(char Option, string? Argument)> _options = new();
    private readonly List<string> _operands = new();

    /// <summary>Options in the order given.</summary>
    public IReadOnlyList<(char Option, string? Argument)> Options => _options;

    /// <summary>The non-option arguments (argv[optind..] after getopt has permuted them).</summary>
    public IReadOnlyList<string> Operands => _operands;

    /// <summary>False when an option was invalid or missed its argument (the message is printed).</summary>
    public bool Ok { get; private set; } = true;

    /// <param name="args">The command's words, args[0] being its name.</param>
    /// <param name="spec">getopt's optstring: letters, each followed by ':' when it takes an argument.</param>
    public Getopt(IReadOnlyList<string> args, string spec, TextWriter stderr)
    {
        string name = args[0];
        for (int i = 1; i < args.Count; i++)
        {
            string a = args[i];
            if (a == "--")
            {
                for (i++; i < args.Count; i++) _operands.Add(args[i]);
                break;
            }
            if (a.Length < 2 || a[0] != '-')
            {
                _operands.Add(a);
                continue;
            }
            for (int k = 1; k < a.Length; k++)
            {
                char c = a[k];
                int at = spec.IndexOf(c);
                if (at < 0 || c == ':')
                {
                    stderr.Write($"{name}: invalid option -- '{c}'\n");
                    Ok = false;
                    return;
                }
                if (at + 1 < spec.Length && spec[at + 1] == ':')
                {
                    string? value = k + 1 < a.Length ? a[(k + 1)..] : i + 1 < args.Count ? args[++i] : null;
                    if (value is null)
                    {
                        stderr.Write($"{name}: option requires an argument -- '{c}'\n");
                        Ok = false;
                        return;
                    }
                    _options.Add((c, value));
                    break;
                }
                _options.Add((c, null));
            }
        }
    }
}
