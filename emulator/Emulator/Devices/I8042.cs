using Emulator.Bus;
using Emulator.Machine;

namespace Emulator.Devices;

/// <summary>
/// The 8042 keyboard controller at 0x60 (data) and 0x64 (status/command) with an AT keyboard behind it, enough
/// for what Linux and firmware do with it: controller commands (command byte, self tests, port enables, output
/// port with A20 and the reset line, pulse 0xFE), keyboard commands answered with ACK (reset, identify, LEDs,
/// scan-code set). IRQ 1 while keyboard data is in the output buffer and command byte bit 0 enables it; IRQ 12
/// likewise for auxiliary-port data (the controller's own loop-back, command 0xD3) and bit 1. Each byte that
/// moves into the output buffer is a new rising edge, as on the chip (one byte per interrupt: Linux's handler
/// reads one byte per IRQ). No mouse is attached: a byte sent to the auxiliary device times out (0xFE).
/// </summary>
public sealed class I8042 : IPortDevice
{
    private const byte StatOutputFull = 0x01, StatSystem = 0x04, StatCommand = 0x08, StatUnlocked = 0x10,
        StatAuxData = 0x20, StatTimeout = 0x40;
    private const byte CmdKbdInt = 0x01, CmdAuxInt = 0x02, CmdSystem = 0x04, CmdTranslate = 0x40;

    private readonly IrqLine irq1, irq12;
    private readonly A20Gate a20;
    private readonly IMachineControl machine;
    private readonly Queue<(byte Value, bool Aux, bool Timeout)> output = new();
    private byte status, commandByte;
    private byte pendingControllerCommand;   // a controller command waiting for its data byte on port 0x60
    private byte pendingKeyboardCommand;     // a keyboard command waiting for its parameter
    private bool keyboardEnabled;

    public I8042(IrqLine irq1, IrqLine irq12, A20Gate a20, IMachineControl machine)
    {
        this.irq1 = irq1;
        this.irq12 = irq12;
        this.a20 = a20;
        this.machine = machine;
        Reset();
    }

    public void Register(IoPortBus io)
    {
        io.Register(0x60, 1, this);
        io.Register(0x64, 1, this);
    }

    public void Reset()
    {
        output.Clear();
        status = StatCommand | StatUnlocked;
        commandByte = 0x03;                  // keyboard and aux interrupts enabled, as QEMU's reset state
        pendingControllerCommand = pendingKeyboardCommand = 0;
        keyboardEnabled = true;
        UpdateIrq();
    }

    /// <summary>Queues a scan code from the host keyboard (not wired to a host key source yet).</summary>
    public void KeyboardData(byte value)
    {
        if (keyboardEnabled) Enqueue(value);
    }

    private void Enqueue(byte value, bool aux = false, bool timeout = false)
    {
        if (output.Count >= 16) return;
        output.Enqueue((value, aux, timeout));
        UpdateIrq();
    }

    private void UpdateIrq()
    {
        status &= unchecked((byte)~(StatOutputFull | StatAuxData | StatTimeout));
        if (output.TryPeek(out var head))
        {
            status |= StatOutputFull;
            if (head.Aux) status |= StatAuxData;
            if (head.Timeout) status |= StatTimeout;
        }
        bool full = output.Count > 0;
        irq1.Set(full && !head.Aux && (commandByte & CmdKbdInt) != 0);
        irq12.Set(full && head.Aux && (commandByte & CmdAuxInt) != 0);
    }

    public uint In(ushort port, int size)
    {
        if (port == 0x64) return status;
        byte v = 0;
        if (output.TryDequeue(out var item)) v = item.Value;
        // Reading empties the output buffer (OBF and the IRQ output drop); the next queued byte then loads it
        // and raises the line again: a fresh edge for the edge-triggered ISA IRQ.
        irq1.Set(false);
        irq12.Set(false);
        UpdateIrq();
        return v;
    }

    public void Out(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port == 0x64) ControllerCommand(v);
        else DataWrite(v);
    }

    private void ControllerCommand(byte cmd)
    {
        status |= StatCommand;
        pendingControllerCommand = 0;
        switch (cmd)
        {
            case 0x20: Enqueue(commandByte); break;                 // read command byte
            case 0x60: case 0xD1: case 0xD2: case 0xD3: case 0xD4:   // commands with a data byte
                pendingControllerCommand = cmd;
                break;
            case 0xA7: commandByte |= 0x20; break;                  // disable aux interface
            case 0xA8: commandByte &= 0xDF; break;                  // enable aux interface
            case 0xA9: Enqueue(0x00); break;                        // aux interface test: passed
            case 0xAA:                                              // controller self test
                status |= StatSystem;
                Enqueue(0x55);
                break;
            case 0xAB: Enqueue(0x00); break;                        // keyboard interface test: passed
            case 0xAD: commandByte |= 0x10; break;                  // disable keyboard interface
            case 0xAE: commandByte &= 0xEF; break;                  // enable keyboard interface
            case 0xC0: Enqueue(0x00); break;                        // read input port
            case 0xD0: Enqueue(OutputPort); break;                  // read output port
            case 0xDD: a20.KeyboardController = false; break;       // disable A20 (HP/Vectra extension)
            case 0xDF: a20.KeyboardController = true; break;        // enable A20
            case 0xE0: Enqueue(0x00); break;                        // read test inputs
            default:
                // 0xF0-0xFF pulse output port bits 0-3 low for 6 us; bit 0 is the CPU reset line.
                if (cmd >= 0xF0 && (cmd & 1) == 0) machine.RequestReset("keyboard controller reset pulse");
                break;
        }
    }

    private byte OutputPort => (byte)(0x01 | (a20.KeyboardController ? 0x02 : 0)
        | (output.Count > 0 ? 0x10 : 0) | 0xC0);

    private void DataWrite(byte v)
    {
        status &= unchecked((byte)~StatCommand);
        byte cmd = pendingControllerCommand;
        pendingControllerCommand = 0;
        switch (cmd)
        {
            case 0x60:
                commandByte = v;
                status = (byte)((status & ~StatSystem) | (v & CmdSystem));
                UpdateIrq();
                return;
            case 0xD1:
                a20.KeyboardController = (v & 0x02) != 0;
                if ((v & 0x01) == 0) machine.RequestReset("keyboard controller output port reset");
                return;
            case 0xD2: Enqueue(v); return;                           // as if the keyboard sent it
            case 0xD3: Enqueue(v, aux: true); return;                // as if the mouse sent it
            case 0xD4:
                // To the aux device: none is attached, so it never clocks the byte in; the controller gives up
                // with the time-out bit and a 0xFE (resend) from the aux port, and the driver's command fails
                // at once instead of waiting for its own time-out.
                Enqueue(0xFE, aux: true, timeout: true);
                return;
        }
        KeyboardCommand(v);
    }

    private void KeyboardCommand(byte v)
    {
        if (pendingKeyboardCommand != 0)
        {
            byte c = pendingKeyboardCommand;
            pendingKeyboardCommand = 0;
            Enqueue(0xFA);
            if (c == 0xF0 && v == 0) Enqueue(0x02);                  // report scan-code set 2
            return;
        }
        switch (v)
        {
            case 0xED: case 0xF0: case 0xF3:                         // LEDs, scan-code set, typematic: a parameter follows
                pendingKeyboardCommand = v;
                Enqueue(0xFA);
                break;
            case 0xEE: Enqueue(0xEE); break;                         // echo
            case 0xF2:                                               // identify: MF2 keyboard, AB 83 (AB 41 translated)
                Enqueue(0xFA); Enqueue(0xAB); Enqueue((commandByte & CmdTranslate) != 0 ? (byte)0x41 : (byte)0x83);
                break;
            case 0xF4: keyboardEnabled = true; Enqueue(0xFA); break;
            case 0xF5: keyboardEnabled = false; Enqueue(0xFA); break;
            case 0xF6: keyboardEnabled = true; Enqueue(0xFA); break;
            case 0xFF: keyboardEnabled = true; Enqueue(0xFA); Enqueue(0xAA); break;  // reset: ACK, self-test passed
            default: Enqueue(0xFE); break;                           // resend: unknown command
        }
    }

    public byte CommandByte => commandByte;
    public int PendingOutput => output.Count;
}
