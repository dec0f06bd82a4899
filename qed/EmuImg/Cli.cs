using System.CommandLine;
using Qed;

namespace EmuImg;

/// <summary>A failure the user caused or can fix: printed as one line, with qemu-img's exit code.</summary>
internal sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// emu-img's entry point: qemu-img's commands and flags over the QED engine. Every error becomes one
/// line on stderr ("emu-img: ...") and a non-zero exit code; no stack trace reaches the user.
/// </summary>
public sealed class EmuImgCli
{
    public EmuImgCli(TextWriter stdout, TextWriter stderr)
    {
        Out = stdout;
        Err = stderr;
    }

    internal TextWriter Out { get; }
    internal TextWriter Err { get; }

    /// <summary>Runs one command line; returns the process exit code.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr) =>
        new EmuImgCli(stdout, stderr).RunAsync(args);

    public async Task<int> RunAsync(string[] args)
    {
        try
        {
            var root = BuildRoot();
            var parse = root.Parse(PrepareArguments(args), new ParserConfiguration { ResponseFileTokenReplacer = null });
            if (parse.Errors.Count > 0)
            {
                // An unknown word says more than "command missing", which the parser reports first.
                var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
                Err.WriteLine($"emu-img: {OneLine(error.Message)} (try 'emu-img --help')");
                return 1;
            }
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = Out,
                Error = Err,
                EnableDefaultExceptionHandler = false,
            }).ConfigureAwait(false);
        }
        catch (CliException e)
        {
            Err.WriteLine($"emu-img: {OneLine(e.Message)}");
            return e.ExitCode;
        }
        catch (ImageException e)
        {
            Err.WriteLine($"emu-img: {OneLine(e.Message)}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Err.WriteLine($"emu-img: {OneLine(e.Message)}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Err.WriteLine("emu-img: interrupted");
            return 1;
        }
        catch (Exception e)
        {
            Err.WriteLine($"emu-img: internal error ({e.GetType().Name}): {OneLine(e.Message)}");
            return 1;
        }
    }

    internal static string OneLine(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, @"\s+", " ").Trim();

    /// <summary>
    /// qemu-img accepts "resize img -1G": a size that looks like an option. Put such a size after "--"
    /// so the parser takes it as the size argument.
    /// </summary>
    private static string[] PrepareArguments(string[] args)
    {
        if (args.Length >= 3 && args[0] == "resize" && args[^1].Length > 1 && args[^1][0] == '-'
            && (char.IsDigit(args[^1][1]) || args[^1][1] == '.') && !args.Contains("--"))
            return [.. args[..^1], "--", args[^1]];
        return args;
    }

    private RootCommand BuildRoot()
    {
        var root = new RootCommand("emu-img: create, inspect, check and convert QED and raw disk images (qemu-img's commands and flags)");
        root.Add(CreateCommand.Build(this));
        root.Add(InfoCommand.Build(this));
        root.Add(CheckCommand.Build(this));
        root.Add(MapCommand.Build(this));
        root.Add(ConvertCommand.Build(this));
        root.Add(CompareCommand.Build(this));
        root.Add(CommitCommand.Build(this));
        root.Add(RebaseCommand.Build(this));
        root.Add(ResizeCommand.Build(this));
        root.Add(BenchCommand.Build(this));
        return root;
    }

    // ---- options shared by several commands, spelled as qemu-img spells them ----

    internal static Option<string> FormatOption(string name = "-f", string description = "image format (qed or raw); probed when absent") =>
        new(name) { Description = description };

    internal static Option<bool> QuietOption() => new("-q") { Description = "quiet: print nothing but errors" };

    internal static Option<bool> ForceShareOption() =>
        new("-U", "--force-share") { Description = "accepted for compatibility: images are opened without locks" };

    internal static Option<string> OutputOption()
    {
        var o = new Option<string>("--output") { Description = "output format: human or json", DefaultValueFactory = _ => "human" };
        o.AcceptOnlyFromAmong("human", "json");
        return o;
    }

    internal static Option<string> CacheOption(string name) =>
        new(name) { Description = "cache mode (accepted for compatibility; host I/O is always through the page cache)" };

    /// <summary>Parses a size argument or fails with qemu-img's message.</summary>
    internal static long ParseSize(string text, string what = "image size")
    {
        return Sizes.TryParse(text) ?? throw new CliException(
            $"Invalid {what} specified. You may use k, M, G, T, P or E suffixes for kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
    }

    internal static void CheckFormat(string? format)
    {
        if (format is not null && !ImageOpener.Formats.Contains(format))
            throw new CliException($"Unknown file format '{format}' (supported: qed, raw)");
    }

    /// <summary>Opens an image for a command; errors read "Could not open 'x': reason".</summary>
    internal static Task<IBlockDevice> OpenAsync(string path, string? format, QedOpenOptions options)
    {
        CheckFormat(format);
        return ImageOpener.OpenAsync(path, format, options);
    }
}
