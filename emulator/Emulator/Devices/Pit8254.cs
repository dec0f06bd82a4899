using Emulator.Bus;
using Emulator.Machine;

namespace Emulator.Devices;

/// <summary>
/// The 8254 programmable interval timer at ports 0x40-0x43, clocked at 1.193182 MHz from the virtual clock.
/// Channel 0 drives IRQ 0; channel 2's gate and output are wired to port 0x61 (<see cref="SystemControlPortB"/>).
/// Counts are computed from the time of the last load, so reading the counter costs no timer events; only
/// channel 0's output edges are scheduled. Modes 0-5, LSB/MSB/word access, BCD, counter latch and the
/// read-back command follow the Intel 8254 datasheet.
/// </summary>
public sealed class Pit8254 : IPortDevice
{
    public const long Frequency = 1_193_182;

    private readonly VirtualClock clock;
    private readonly IrqLine irq0;
    private readonly Channel[] channels = new Channel[3];
    private readonly DeviceTimer timer;

    public Pit8254(VirtualClock clock, IrqLine irq0)
    {
        this.clock = clock;
        this.irq0 = irq0;
        for (int i = 0; i < 3; i++) channels[i] = new Channel(i == 2 ? false : true);
        timer = clock.CreateTimer("pit-ch0", OnChannel0Edge);
        Reset();
    }

    public void Register(IoPortBus io) => io.Register(0x40, 4, this);

    public void Reset()
    {
        long now = clock.NowNs;
        foreach (var c in channels) c.Reset(now);
        timer.Cancel();
        irq0.Set(false);
    }

    // ---- port 0x61 wiring ----------------------------------------------------------------------------

    public bool GetGate(int channel) => channels[channel].Gate;

    public void SetGate(int channel, bool gate)
    {
        var c = channels[channel];
        if (gate == c.Gate) return;
        long now = clock.NowNs;
        // Modes 1, 2, 3 and 5 (re)start counting on a rising gate; modes 0 and 4 just enable counting,
        // which is not modelled (the count keeps running), as in QEMU.
        if (gate && c.Mode is 1 or 2 or 3 or 5) c.LoadTime = now;
        c.Gate = gate;
        if (channel == 0) ScheduleChannel0(now);
    }

    public bool GetOutput(int channel) => channels[channel].Output(clock.NowNs);

    /// <summary>Current count of a channel (what a latch would read), for tests and tracing.</summary>
    public int GetCount(int channel) => channels[channel].Count(clock.NowNs);

    // ---- ports ---------------------------------------------------------------------------------------

    public uint In(ushort port, int size)
    {
        int index = port & 3;
        if (index == 3) return 0xFF;           // the control word register is write-only
        return channels[index].Read(clock.NowNs);
    }

    public void Out(ushort port, int size, uint value)
    {
        long now = clock.NowNs;
        int index = port & 3;
        byte v = (byte)value;
        if (index == 3)
        {
            ControlWord(v, now);
            return;
        }
        var c = channels[index];
        if (c.WriteByte(v, now) && index == 0)
        {
            // A new count: in mode 0 OUT goes low at once; periodic modes start a new cycle.
            if (c.Mode is 0) irq0.Set(false);
            ScheduleChannel0(now);
        }
    }

    private void ControlWord(byte v, long now)
    {
        int select = v >> 6;
        if (select == 3)
        {
            // Read-back command: bit 5 clear = latch count, bit 4 clear = latch status, bits 1..3 channels.
            for (int i = 0; i < 3; i++)
            {
                if ((v & (2 << i)) == 0) continue;
                var c = channels[i];
                if ((v & 0x20) == 0) c.LatchCount(now);
                if ((v & 0x10) == 0) c.LatchStatus(now);
            }
            return;
        }
        var ch = channels[select];
        int access = (v >> 4) & 3;
        if (access == 0)
        {
            ch.LatchCount(now);
            return;
        }
        ch.Program(access, (v >> 1) & 7, (v & 1) != 0);
        if (select == 0)
        {
            timer.Cancel();
            // Programming a mode sets OUT: low for mode 0, high for the others.
            irq0.Set(false);
        }
    }

    // ---- channel 0 -> IRQ 0 ---------------------------------------------------------------------------

    private void ScheduleChannel0(long now)
    {
        var c = channels[0];
        long next = c.NextEdge(now);
        if (next == long.MaxValue) timer.Cancel();
        else timer.Arm(next);
    }

    private void OnChannel0Edge()
    {
        var c = channels[0];
        long now = clock.NowNs;
        if (c.Mode == 0)
            irq0.Set(true);                 // terminal count: OUT stays high until reprogrammed
        else
            irq0.Pulse();                   // a rising edge per period (modes 2, 3) or the strobe (1, 4, 5)
        ScheduleChannel0(Math.Max(now, timer.Deadline));
    }

    /// <summary>One counter of the 8254.</summary>
    private sealed class Channel(bool gateTiedHigh)
    {
        public int Mode;
        public bool Bcd;
        public bool Gate;
        public long LoadTime;
        private int initial;            // counts per cycle: 1..65536 (or 10000 in BCD)
        private bool loaded;            // a count was written since the mode was programmed
        private int access;             // 1 LSB, 2 MSB, 3 LSB then MSB
        private bool writeHigh, readHigh;
        private byte writeLow;
        private int latched = -1;       // latched count, -1 when none
        private bool latchedHighNext;
        private int status = -1;        // latched status byte, -1 when none
        private bool nullCount;

        public void Reset(long now)
        {
            Mode = 0; Bcd = false; Gate = gateTiedHigh;
            LoadTime = now; initial = 0x10000; loaded = false;
            access = 3; writeHigh = readHigh = false; latched = -1; status = -1; nullCount = true;
        }

        public void Program(int accessMode, int mode, bool bcd)
        {
            access = accessMode;
            Mode = mode > 5 ? mode - 4 : mode;      // 6 and 7 are aliases of 2 and 3
            Bcd = bcd;
            writeHigh = readHigh = false;
            loaded = false;
            nullCount = true;
        }

        /// <summary>Returns true when the byte completed a new count.</summary>
        public bool WriteByte(byte v, long now)
        {
            int value;
            switch (access)
            {
                case 1: value = v; break;
                case 2: value = v << 8; break;
                default:
                    if (!writeHigh) { writeLow = v; writeHigh = true; return false; }
                    writeHigh = false;
                    value = writeLow | v << 8;
                    break;
            }
            if (Bcd) value = FromBcd(value);
            int modulus = Bcd ? 10000 : 0x10000;
            initial = value == 0 ? modulus : value;
            if (Mode is 2 or 3 && initial == 1) initial = 2;   // 1 is illegal in modes 2 and 3
            LoadTime = now;
            loaded = true;
            nullCount = false;
            return true;
        }

        private long Ticks(long now) => ClockMath.MulDiv(now - LoadTime, Frequency, 1_000_000_000);

        private long TimeOfTick(long tick) =>
            LoadTime + ClockMath.MulDivCeiling(tick, 1_000_000_000, Frequency);

        public int Count(long now)
        {
            if (!loaded) return initial & 0xFFFF;
            long d = Ticks(now);
            int modulus = Bcd ? 10000 : 0x10000;
            long v = Mode switch
            {
                3 => initial - ((2 * d) % initial),          // counts down by two per clock
                2 => initial - (d % initial),
                _ => ((initial - d) % modulus + modulus) % modulus,   // one-shot modes wrap and keep counting
            };
            return (int)(v % modulus);
        }

        public bool Output(long now)
        {
            if (!loaded) return Mode != 0;
            if (!Gate && Mode is 2 or 3) return true;
            long d = Ticks(now);
            return Mode switch
            {
                0 => d >= initial,
                1 => d >= initial,
                2 => d % initial != initial - 1,             // low for the one clock at count 1
                3 => d % initial < (initial + 1) / 2,        // high for the first half of each period
                _ => d != initial,                           // 4, 5: one clock low at terminal count
            };
        }

        /// <summary>Time of the next rising edge of OUT strictly after <paramref name="now"/>, or MaxValue.</summary>
        public long NextEdge(long now)
        {
            if (!loaded || !Gate) return long.MaxValue;
            long d = Ticks(now);
            long tick;
            switch (Mode)
            {
                case 0:
                    if (d >= initial) return long.MaxValue;
                    tick = initial;
                    break;
                case 2: case 3:
                    tick = (d / initial + 1) * initial;
                    break;
                case 4: case 5:
                    if (d > initial) return long.MaxValue;
                    tick = initial + 1;
                    break;
                default:
                    return long.MaxValue;                    // mode 1 needs a gate trigger, channel 0's gate is tied
            }
            long t = TimeOfTick(tick);
            return t > now ? t : TimeOfTick(tick + (Mode is 2 or 3 ? initial : 0));
        }

        public void LatchCount(long now)
        {
            if (latched >= 0) return;                        // a second latch before reading is ignored
            int c = Count(now);
            latched = Bcd ? ToBcd(c) : c;
            latchedHighNext = access == 2;
        }

        public void LatchStatus(long now)
        {
            if (status >= 0) return;
            status = (Output(now) ? 0x80 : 0) | (nullCount ? 0x40 : 0) | access << 4 | Mode << 1 | (Bcd ? 1 : 0);
        }

        public byte Read(long now)
        {
            if (status >= 0)
            {
                byte s = (byte)status;
                status = -1;
                return s;
            }
            if (latched >= 0)
            {
                byte b = (byte)(latchedHighNext ? latched >> 8 : latched);
                if (access == 3 && !latchedHighNext) latchedHighNext = true;
                else latched = -1;
                return b;
            }
            int c = Count(now);
            if (Bcd) c = ToBcd(c);
            switch (access)
            {
                case 1: return (byte)c;
                case 2: return (byte)(c >> 8);
                default:
                    byte r = readHigh ? (byte)(c >> 8) : (byte)c;
                    readHigh = !readHigh;
                    return r;
            }
        }

        private static int FromBcd(int v) =>
            (v & 0xF) + ((v >> 4) & 0xF) * 10 + ((v >> 8) & 0xF) * 100 + ((v >> 12) & 0xF) * 1000;

        private static int ToBcd(int v)
        {
            v %= 10000;
            return v % 10 | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 | (v / 1000) << 12;
        }
    }
}
