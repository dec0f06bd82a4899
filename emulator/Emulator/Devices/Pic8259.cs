using Emulator.Bus;

namespace Emulator.Devices;

/// <summary>
/// The cascaded 8259A pair of a PC (master at 0x20, slave at 0xA0 on the master's IR2) with the PIIX edge/level
/// control registers (ELCR, ports 0x4D0/0x4D1). Implements the 8259A datasheet's ICW1-4 initialisation, OCW1
/// (mask), OCW2 (EOI, rotation, priority), OCW3 (IRR/ISR read, poll, special mask) and the INTA sequence.
/// </summary>
public sealed class Pic8259 : IPortDevice, IIrqSink, IInterruptController
{
    private readonly Chip master = new(0xF8);   // PIIX: IRQ 0, 1, 2 are always edge
    private readonly Chip slave = new(0xDE);    // PIIX: IRQ 8 and 13 are always edge
    private readonly InterruptPin pin;

    /// <summary>Counts INTA cycles that found nothing pending (spurious IRQ 7/15).</summary>
    public long SpuriousCount { get; private set; }

    public Pic8259(InterruptPin pin)
    {
        this.pin = pin;
        pin.Controller = this;
    }

    public void Register(IoPortBus io)
    {
        io.Register(0x20, 2, this);
        io.Register(0xA0, 2, this);
        io.Register(0x4D0, 2, this);
    }

    public void Reset()
    {
        master.Reset();
        slave.Reset();
        master.Elcr = slave.Elcr = 0;
        Update();
    }

    // ---- interrupt inputs ----------------------------------------------------------------------------

    public void SetIrq(int irq, bool level)
    {
        if ((uint)irq > 15) return;
        var chip = irq < 8 ? master : slave;
        chip.SetInput(irq & 7, level);
        Update();
    }

    /// <summary>Recomputes the slave's INT (wired to master IR2) and the master's INT (the CPU's INTR).</summary>
    private void Update()
    {
        master.SetInput(2, slave.HighestPending() >= 0);
        pin.Asserted = master.HighestPending() >= 0;
    }

    /// <summary>The INTA cycle: returns the vector of the highest-priority request and marks it in service.</summary>
    public byte Acknowledge()
    {
        int irq = master.HighestPending();
        byte vector;
        if (irq < 0)
        {
            SpuriousCount++;
            vector = (byte)(master.VectorBase + 7);
        }
        else
        {
            master.Acknowledge(irq);
            if (irq == 2)
            {
                int irq2 = slave.HighestPending();
                if (irq2 >= 0) slave.Acknowledge(irq2);
                else { irq2 = 7; SpuriousCount++; }
                vector = (byte)(slave.VectorBase + irq2);
            }
            else vector = (byte)(master.VectorBase + irq);
        }
        Update();
        return vector;
    }

    // ---- ports ---------------------------------------------------------------------------------------

    public uint In(ushort port, int size)
    {
        if (port is 0x4D0 or 0x4D1)
        {
            uint v = (port == 0x4D0 ? master : slave).Elcr;
            if (size >= 2 && port == 0x4D0) v |= (uint)slave.Elcr << 8;
            return v;
        }
        var chip = port < 0xA0 ? master : slave;
        if (chip.Poll)
        {
            chip.Poll = false;
            int irq = chip.HighestPending();
            if (irq < 0) return 0;
            chip.Acknowledge(irq);
            Update();
            return (uint)(irq | 0x80);
        }
        if ((port & 1) == 0) return chip.ReadIsr ? chip.Isr : chip.Irr;
        return chip.Imr;
    }

    public void Out(ushort port, int size, uint value)
    {
        if (port is 0x4D0 or 0x4D1)
        {
            if (port == 0x4D0)
            {
                master.Elcr = (byte)(value & master.ElcrMask);
                if (size >= 2) slave.Elcr = (byte)((value >> 8) & slave.ElcrMask);
            }
            else slave.Elcr = (byte)(value & slave.ElcrMask);
            return;
        }
        var chip = port < 0xA0 ? master : slave;
        chip.Write((port & 1) != 0, (byte)value);
        Update();
    }

    // ---- inspection (tests, tracing) -------------------------------------------------------------------

    public byte MasterImr => master.Imr;
    public byte SlaveImr => slave.Imr;
    public byte MasterIsr => master.Isr;
    public byte SlaveIsr => slave.Isr;
    public byte MasterIrr => master.Irr;
    public byte SlaveIrr => slave.Irr;
    public ushort Elcr => (ushort)(master.Elcr | slave.Elcr << 8);

    /// <summary>One 8259A.</summary>
    private sealed class Chip(byte elcrMask)
    {
        public readonly byte ElcrMask = elcrMask;
        public byte Irr, Isr, Imr, Elcr;
        public byte VectorBase;
        private byte lines;          // current input levels, for edge detection
        private int priorityAdd;     // IR with the lowest priority is (priorityAdd - 1) & 7
        public bool ReadIsr, Poll;
        private bool specialMask, autoEoi, rotateOnAutoEoi, specialFullyNested, needIcw4, single;
        private int initStep;        // 0: operational; 1..3: expecting ICW2..ICW4

        public void Reset()
        {
            lines = 0;
            Irr &= Elcr;
            Imr = Isr = 0;
            priorityAdd = 0;
            VectorBase = 0;
            ReadIsr = Poll = specialMask = autoEoi = rotateOnAutoEoi = specialFullyNested = needIcw4 = single = false;
            initStep = 0;
        }

        public void SetInput(int irq, bool level)
        {
            byte bit = (byte)(1 << irq);
            if ((Elcr & bit) != 0)
            {
                // Level mode: the request follows the line.
                if (level) Irr |= bit; else Irr &= (byte)~bit;
            }
            else if (level && (lines & bit) == 0)
            {
                Irr |= bit;                        // edge mode: latch a rising edge
            }
            if (level) lines |= bit; else lines = (byte)(lines & ~bit);
        }

        /// <summary>Index (0..7, counted from the highest priority) of the first set bit, or 8.</summary>
        private int Priority(int mask)
        {
            if (mask == 0) return 8;
            int p = 0;
            while ((mask & (1 << ((p + priorityAdd) & 7))) == 0) p++;
            return p;
        }

        /// <summary>The IR that would interrupt now (unmasked, above everything in service), or -1.</summary>
        public int HighestPending()
        {
            int p = Priority(Irr & ~Imr);
            if (p == 8) return -1;
            int inService = Isr;
            if (specialMask) inService &= ~Imr;
            // Special fully nested mode: the cascade input does not block further slave requests.
            if (specialFullyNested && ElcrMask == 0xF8) inService &= ~(1 << 2);
            int current = Priority(inService);
            return p < current ? (p + priorityAdd) & 7 : -1;
        }

        public void Acknowledge(int irq)
        {
            byte bit = (byte)(1 << irq);
            if (autoEoi)
            {
                if (rotateOnAutoEoi) priorityAdd = (irq + 1) & 7;
            }
            else Isr |= bit;
            if ((Elcr & bit) == 0) Irr &= (byte)~bit;   // edge requests are consumed by INTA
        }

        public void Write(bool odd, byte value)
        {
            if (!odd)
            {
                if ((value & 0x10) != 0)
                {
                    // ICW1: restart initialisation. LTIM (bit 3) is ignored: the ELCR decides, as on the PIIX.
                    Reset();
                    initStep = 1;
                    needIcw4 = (value & 1) != 0;
                    single = (value & 2) != 0;
                }
                else if ((value & 0x08) != 0)
                {
                    // OCW3
                    if ((value & 0x04) != 0) Poll = true;
                    if ((value & 0x02) != 0) ReadIsr = (value & 1) != 0;
                    if ((value & 0x40) != 0) specialMask = (value & 0x20) != 0;
                }
                else Ocw2(value);
                return;
            }
            switch (initStep)
            {
                case 0: Imr = value; break;                                    // OCW1
                case 1:                                                        // ICW2
                    VectorBase = (byte)(value & 0xF8);
                    initStep = single ? (needIcw4 ? 3 : 0) : 2;
                    break;
                case 2: initStep = needIcw4 ? 3 : 0; break;                    // ICW3: cascade wiring is fixed
                case 3:                                                        // ICW4
                    specialFullyNested = (value & 0x10) != 0;
                    autoEoi = (value & 0x02) != 0;
                    initStep = 0;
                    break;
            }
        }

        private void Ocw2(byte value)
        {
            int command = value >> 5;
            switch (command)
            {
                case 0: case 4:                      // rotate in automatic EOI mode: clear / set
                    rotateOnAutoEoi = command == 4;
                    break;
                case 1: case 5:                      // non-specific EOI (5: and rotate)
                {
                    int p = Priority(Isr);
                    if (p == 8) break;
                    int irq = (p + priorityAdd) & 7;
                    Isr &= (byte)~(1 << irq);
                    if (command == 5) priorityAdd = (irq + 1) & 7;
                    break;
                }
                case 3:                              // specific EOI
                    Isr &= (byte)~(1 << (value & 7));
                    break;
                case 6:                              // set priority: IR value&7 becomes the lowest
                    priorityAdd = (value + 1) & 7;
                    break;
                case 7:                              // rotate on specific EOI
                    Isr &= (byte)~(1 << (value & 7));
                    priorityAdd = (value + 1) & 7;
                    break;
            }
        }
    }
}
