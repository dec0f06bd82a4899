using Emulator.Bus;

namespace Emulator.Devices;

/// <summary>The A20 gate: open when either the keyboard controller's output port bit 1 or port 0x92 bit 1 is
/// set (PIIX datasheet, "Fast A20"); drives <see cref="MemoryBus.A20Enabled"/>.</summary>
public sealed class A20Gate(MemoryBus memory)
{
    private bool fromKeyboard = true, fromPort92;

    public bool KeyboardController
    {
        get => fromKeyboard;
        set { fromKeyboard = value; Apply(); }
    }

    public bool Port92
    {
        get => fromPort92;
        set { fromPort92 = value; Apply(); }
    }

    public bool Enabled => fromKeyboard || fromPort92;

    private void Apply() => memory.A20Enabled = Enabled;

    /// <summary>Power-on state: QEMU's PC starts with A20 enabled (the keyboard controller's output port bit 1).</summary>
    public void Reset()
    {
        fromKeyboard = true;
        fromPort92 = false;
        Apply();
    }
}
