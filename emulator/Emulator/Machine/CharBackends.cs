using Emulator.Devices;

namespace Emulator.Machine;

/// <summary>Creates the host end of a serial port or debug console from its option.</summary>
public static class CharBackends
{
    public static CharBackend Create(SerialOptions options, IMachineControl machine) => options.Kind switch
    {
        CharBackendKind.Stdio => new StdioCharBackend(machine),
        CharBackendKind.File => new FileCharBackend(options.Path!),
        CharBackendKind.Tcp => new TcpCharBackend(options),
        _ => new NullCharBackend(),
    };
}
