using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Guest.Tests;

/// <summary>
/// Drives an emulator whose serial console is its stdin/stdout (qemu-system-i386 -nographic, emu -nographic):
/// starts the process, collects everything it prints, waits for a pattern with a timeout and types lines.
/// Output is consumed in order: each successful wait moves a cursor past its match.
/// </summary>
public sealed class SerialConsole : IDisposable
{
    readonly Process _process;
    readonly StringBuilder _text = new();
    readonly object _lock = new();
    readonly Task _stdout, _stderr;
    int _cursor;

    SerialConsole(Process process)
    {
        _process = process;
        _stdout = Task.Run(() => Pump(process.StandardOutput.BaseStream, prefix: null));
        _stderr = Task.Run(() => Pump(process.StandardError.BaseStream, prefix: "[stderr] "));
    }

    public string CommandLine { get; private init; } = "";

    /// <summary>Everything the process printed so far (stdout, and stderr lines marked "[stderr]").</summary>
    public string Transcript { get { lock (_lock) return _text.ToString(); } }

    public bool HasExited => _process.HasExited;

    public static SerialConsole Start(string program, IReadOnlyList<string> args, string workingDirectory,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot start '{program}': {e.Message} (is it installed and on PATH?)", e);
        }
        return new SerialConsole(process) { CommandLine = program + " " + string.Join(' ', args.Select(Quote)) };
    }

    static string Quote(string a) => a.Contains(' ') || a.Contains('"') ? "'" + a + "'" : a;

    void Pump(Stream stream, string? prefix)
    {
        var buffer = new byte[4096];
        bool lineStart = true;
        while (true)
        {
            int n;
            try { n = stream.Read(buffer, 0, buffer.Length); }
            catch (IOException) { n = 0; }
            catch (ObjectDisposedException) { n = 0; }
            if (n == 0) break;
            // Latin-1 keeps every byte (a guest may print anything); the guest's text is ASCII anyway.
            var chunk = Encoding.Latin1.GetString(buffer, 0, n);
            lock (_lock)
            {
                if (prefix is null) _text.Append(chunk);
                else
                    foreach (var c in chunk)
                    {
                        if (lineStart) _text.Append(prefix);
                        _text.Append(c);
                        lineStart = c == '\n';
                    }
                Monitor.PulseAll(_lock);
            }
        }
        lock (_lock) Monitor.PulseAll(_lock);
    }

    /// <summary>Waits for <paramref name="pattern"/> in the output after the cursor and moves the cursor past it.</summary>
    public Match WaitFor(Regex pattern, TimeSpan timeout, string? what = null)
    {
        var deadline = Stopwatch.StartNew();
        lock (_lock)
        {
            while (true)
            {
                var m = pattern.Match(_text.ToString(), _cursor);
                if (m.Success) { _cursor = m.Index + m.Length; return m; }
                bool ended = _process.HasExited && _stdout.IsCompleted && _stderr.IsCompleted;
                var left = timeout - deadline.Elapsed;
                if (ended || left <= TimeSpan.Zero)
                {
                    var why = ended ? $"the emulator exited (status {_process.ExitCode})" : $"{timeout.TotalSeconds:0} s passed";
                    throw new SerialConsoleException(
                        $"waiting for {what ?? "/" + pattern + "/"}: {why} first. Command: {CommandLine}\n" +
                        $"--- console output after the last match ---\n{Tail(_text.ToString()[_cursor..])}");
                }
                Monitor.Wait(_lock, left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
            }
        }
    }

    public Match WaitFor(string pattern, TimeSpan timeout, string? what = null) =>
        WaitFor(new Regex(pattern, RegexOptions.CultureInvariant), timeout, what);

    /// <summary>Types a line as a terminal does (Enter sends a carriage return).</summary>
    public void SendLine(string line) => Send(line + "\r");

    /// <summary>Types characters as they are, e.g. "\u0003" for Ctrl-C.</summary>
    public void Send(string keys)
    {
        if (_process.HasExited)
            throw new SerialConsoleException($"cannot type '{keys}': the emulator has exited (status {_process.ExitCode})\n{Tail(Transcript)}");
        var stdin = _process.StandardInput.BaseStream;
        stdin.Write(Encoding.Latin1.GetBytes(keys));
        stdin.Flush();
    }

    /// <summary>Closes the console's input (what a run without a terminal looks like to the emulator).</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Waits for the emulator to end and returns its exit status.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
            throw new SerialConsoleException(
                $"the emulator did not exit within {timeout.TotalSeconds:0} s. Command: {CommandLine}\n{Tail(Transcript)}");
        _process.WaitForExit(); // drains the output pumps
        Task.WaitAll([_stdout, _stderr], TimeSpan.FromSeconds(5));
        return _process.ExitCode;
    }

    static string Tail(string text, int max = 6000) =>
        text.Length <= max ? text : "[...]" + text[^max..];

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

/// <summary>The console did not show what a test waited for, or the emulator went away.</summary>
public sealed class SerialConsoleException(string message) : Exception(message);
