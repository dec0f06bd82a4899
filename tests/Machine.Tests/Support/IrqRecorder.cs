using Emulator.Bus;

namespace Machine.Tests.Support;

/// <summary>An interrupt controller stand-in that records the level of each input and counts rising edges.</summary>
public sealed class IrqRecorder : IIrqSink
{
    public readonly bool[] Level = new bool[16];
    public readonly int[] RisingEdges = new int[16];

    public void SetIrq(int irq, bool level)
    {
        if (level && !Level[irq]) RisingEdges[irq]++;
        Level[irq] = level;
    }

    public IrqLine Line(int irq) => new(this, irq);
}
