namespace Emulator.Machine;

/// <summary>How a run ended: the process exit code and a one-line reason.</summary>
public sealed record MachineExit(int ExitCode, string Reason);
