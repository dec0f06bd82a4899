using System.Text.RegularExpressions;

namespace Guest.Tests;

/// <summary>
/// The guest's login shell on a <see cref="SerialConsole"/>: waits for the fixed prompt (PS1 'guest:\w# ' from
/// guest-images/rootfs/etc/profile) and runs commands bracketed by markers that only the shell's expansion
/// can produce, so the terminal's echo of the typed line never matches them.
/// </summary>
public sealed class GuestShell(SerialConsole console)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);
    static readonly Regex Prompt = new(@"guest:[^\r\n#]*# ");
    int _serial;

    public SerialConsole Console => console;

    /// <summary>
    /// Waits for init's marker and the shell's first prompt, then lowers the console log level to emergencies
    /// only: the kernel still logs after the prompt appears (e.g. its switch to the TSC clocksource about a
    /// second into the boot), and those lines would otherwise land inside a command's output.
    /// </summary>
    public void WaitUntilReady(TimeSpan timeout)
    {
        console.WaitFor(@"GUEST-UP: userspace is running \(mode=shell", timeout, "the guest's userspace marker (GUEST-UP)");
        console.WaitFor(Prompt, timeout, "the shell prompt 'guest:...# '");
        Check("dmesg -n 1");
    }

    /// <summary>Runs one command line and returns its output (between the markers) and its exit status.</summary>
    public (string Output, int Status) Run(string command, TimeSpan? timeout = null)
    {
        int n = ++_serial;
        // "@@BEGIN""-7@@" is echoed as typed but printed as @@BEGIN-7@@; likewise $? becomes a number.
        console.SendLine($"echo \"@@BEGIN\"\"-{n}@@\"; {command}; echo \"@@END\"\"-{n}-$?@@\"");
        var m = console.WaitFor(new Regex($@"@@BEGIN-{n}@@\r?\n(.*?)@@END-{n}-(\d+)@@", RegexOptions.Singleline),
            timeout ?? DefaultTimeout, $"the end of '{command}'");
        console.WaitFor(Prompt, timeout ?? DefaultTimeout, "the prompt after '" + command + "'");
        return (m.Groups[1].Value.Replace("\r", ""), int.Parse(m.Groups[2].Value));
    }

    /// <summary>Runs a command that must succeed and returns its output.</summary>
    public string Check(string command, TimeSpan? timeout = null)
    {
        var (output, status) = Run(command, timeout);
        if (status != 0)
            throw new SerialConsoleException($"guest command '{command}' failed with status {status}:\n{output}");
        return output;
    }
}
