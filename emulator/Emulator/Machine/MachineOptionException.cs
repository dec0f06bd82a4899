namespace Emulator.Machine;

/// <summary>A command-line option or its value is wrong; the message is one line naming the option.</summary>
public sealed class MachineOptionException(string message) : Exception(message);
