using Qed;
using static EmuIo.QemuIoFormat;

namespace EmuIo;

/// <summary>One qemu-io command: its names, argument counts and help line (qemu-io-cmds.c's cmdinfo_t).</summary>
internal sealed record IoCommand(
    string Name, string? AltName, int ArgMin, int ArgMax, string? Args, string OneLine,
    Func<IoSession, IReadOnlyList<string>, Task<int>> Run)
{
    /// <summary>Needs a writable image (QEMU's BLK_PERM_WRITE).</summary>
    public bool Writes { get; init; }
    /// <summary>Works without an open image (help, quit).</summary>
    public bool Global { get; init; }
    /// <summary>Runs QEMU's event loop while it waits, so completions of earlier aio requests are reported first.</summary>
    public bool Polls { get; init; }
}

/// <summary>
/// The state qemu-io keeps between commands: the open image, the cache mode, the aio requests in
/// flight, and whether to quit. Commands print to <see cref="Out"/> (qemu-io's stdout) and
/// <see cref="Err"/> (its stderr) with qemu-io's exact wording.
/// </summary>
internal sealed class IoSession : IAsyncDisposable
{
    private readonly List<Task<string>> _inFlight = new();

    public IoSession(TextWriter stdout, TextWriter stderr, string programName)
    {
        Out = stdout;
        Err = stderr;
        ProgramName = programName;
    }

    public TextWriter Out { get; }
    public TextWriter Err { get; }
    public string ProgramName { get; }
    public IBlockDevice? Image { get; set; }
    /// <summary>qemu-io's default: the write cache is off, so every write is followed by a flush.</summary>
    public bool Writethrough { get; set; } = true;
    /// <summary>cache=unsafe: flushes are ignored.</summary>
    public bool IgnoreFlushes { get; set; }
    public bool QuitRequested { get; set; }

    /// <summary>error_report: "prog: message" on stderr.</summary>
    public void Report(string message) => Err.Write($"{ProgramName}: {message}\n");

    /// <summary>Starts an aio request; its report (the lines qemu-io's callback prints) is printed later.</summary>
    public void Submit(Task<string> report) => _inFlight.Add(report);

    /// <summary>
    /// Waits for every aio request in flight and prints their reports in the order they were submitted
    /// (qemu-io prints them from its event loop, at the next command that waits for I/O, or at exit).
    /// </summary>
    public async Task DrainAsync()
    {
        while (_inFlight.Count > 0)
        {
            var r = _inFlight[0];
            _inFlight.RemoveAt(0);
            Out.Write(await r.ConfigureAwait(false));
        }
    }

    /// <summary>Writes made through the cache are flushed at once in writethrough mode (as QEMU emulates FUA).</summary>
    public async Task AfterWriteAsync(bool fua)
    {
        if ((Writethrough || fua) && !IgnoreFlushes) await Image!.FlushAsync().ConfigureAwait(false);
    }

    public Task FlushAsync() => IgnoreFlushes ? Task.CompletedTask : Image!.FlushAsync().AsTask();

    /// <summary>The errno an engine failure stands for: requests outside the disk and host I/O failures are EIO.</summary>
    public static int Errno(Exception e) => e switch
    {
        ImageException => EIO,
        IOException => EIO,
        NotSupportedException => ENOTSUP,
        _ => EIO,
    };

    public async ValueTask DisposeAsync()
    {
        await DrainAsync().ConfigureAwait(false);
        if (Image is { } image)
        {
            Image = null;
            await image.DisposeAsync().ConfigureAwait(false);
        }
    }
}
