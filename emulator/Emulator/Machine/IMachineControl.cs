namespace Emulator.Machine;

/// <summary>What devices may ask of the board: a system reset (keyboard-controller pulse, port 0x92, port 0xCF9,
/// triple fault) or the end of the run (isa-debug-exit, Ctrl-A x). Requests take effect when the current CPU
/// slice ends.</summary>
public interface IMachineControl
{
    void RequestReset(string reason);

    void RequestExit(int exitCode, string reason);
}
