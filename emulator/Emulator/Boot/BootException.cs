namespace Emulator.Boot;

/// <summary>The kernel, initrd or firmware cannot be booted; the message says why in one line.</summary>
public sealed class BootException(string message) : Exception(message);
