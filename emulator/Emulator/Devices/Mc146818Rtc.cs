using Emulator.Bus;
using Emulator.Machine;

namespace Emulator.Devices;

/// <summary>
/// The MC146818A real-time clock and its 128 bytes of CMOS RAM at ports 0x70 (index, bit 7 = NMI mask) and
/// 0x71 (data). Time is the virtual clock plus an offset, so guest time stops when the virtual clock does and,
/// in the deterministic mode, never depends on the host's wall clock. Registers A-D, BCD/binary, 12/24-hour,
/// the update-in-progress window, and the periodic, alarm and update-ended interrupts (IRQ 8) follow the
/// MC146818A datasheet. Flags are worked out when read; a timer runs only while an enabled interrupt can fire.
/// </summary>
public sealed class Mc146818Rtc : IPortDevice
{
    public const int RegA = 0x0A, RegB = 0x0B, RegC = 0x0C, RegD = 0x0D;
    private const byte BSet = 0x80, BPie = 0x40, BAie = 0x20, BUie = 0x10, BBinary = 0x04, B24Hour = 0x02;
    private const byte CIrqf = 0x80, CPf = 0x40, CAf = 0x20, CUf = 0x10;
    private const long NsPerSecond = 1_000_000_000;
    /// <summary>UIP is set for 244 us (8 cycles of the 32.768 kHz time base) before each update.</summary>
    private const long UipLengthNs = 244_140;
    private const int CenturyIndex = 0x32;

    private readonly VirtualClock clock;
    private readonly IrqLine irq;
    private readonly DeviceTimer timer;
    private readonly byte[] cmos = new byte[128];
    private int index;
    private long offsetNs;          // guest time (ns since 1970-01-01 UTC) = offsetNs + virtual now
    private long checkedUpTo;       // guest time up to which flags in register C are accounted for

    public bool NmiMasked { get; private set; }

    public Mc146818Rtc(VirtualClock clock, IrqLine irq, DateTimeOffset start)
    {
        this.clock = clock;
        this.irq = irq;
        timer = clock.CreateTimer("rtc", OnTimer);
        SetTime(start);
        cmos[RegA] = 0x26;                     // 32.768 kHz time base, 1024 Hz periodic rate
        cmos[RegB] = B24Hour;
        cmos[RegD] = 0x80;                     // valid RAM and time
    }

    public void Register(IoPortBus io) => io.Register(0x70, 2, this);

    /// <summary>Sets the wall clock (what the guest reads as "now").</summary>
    public void SetTime(DateTimeOffset time)
    {
        long guest = (time.UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
        offsetNs = guest - clock.NowNs;
        checkedUpTo = guest;
    }

    public DateTime GuestTime => DateTime.UnixEpoch.AddTicks(GuestNs / 100);

    private long GuestNs => offsetNs + clock.NowNs;

    /// <summary>Reset (RESET# pin): clears the interrupt enables and flags, keeps the time and RAM.</summary>
    public void Reset()
    {
        cmos[RegB] &= unchecked((byte)~(BPie | BAie | BUie | 0x08));
        cmos[RegC] = 0;
        irq.Set(false);
        index = 0;
        Reschedule();
    }

    /// <summary>Board set-up writes (memory size, equipment bytes) outside the clock registers.</summary>
    public byte this[int cmosIndex]
    {
        get => cmos[cmosIndex & 0x7F];
        set => cmos[cmosIndex & 0x7F] = value;
    }

    // ---- ports ---------------------------------------------------------------------------------------

    public uint In(ushort port, int size)
    {
        if (port == 0x70) return 0xFF;             // the index register is write-only
        return ReadRegister(index);
    }

    public void Out(ushort port, int size, uint value)
    {
        if (port == 0x70)
        {
            index = (int)(value & 0x7F);
            NmiMasked = (value & 0x80) != 0;
            return;
        }
        WriteRegister(index, (byte)value);
    }

    public byte ReadRegister(int i)
    {
        switch (i)
        {
            case 0: case 2: case 4: case 6: case 7: case 8: case 9: case CenturyIndex:
                if ((cmos[RegB] & BSet) != 0) return cmos[i];
                return TimeField(i, Fields(GuestNs));
            case RegA:
                return (byte)((cmos[RegA] & 0x7F) | (UpdateInProgress() ? 0x80 : 0));
            case RegC:
            {
                CatchUp();
                byte c = cmos[RegC];
                cmos[RegC] = 0;
                irq.Set(false);
                Reschedule();
                return c;
            }
            default:
                return cmos[i];
        }
    }

    public void WriteRegister(int i, byte value)
    {
        switch (i)
        {
            case 0: case 2: case 4: case 6: case 7: case 8: case 9: case CenturyIndex:
                if ((cmos[RegB] & BSet) != 0)
                {
                    cmos[i] = value;
                    return;
                }
                // Writing one field while running: the other fields keep their current values.
                Snapshot();
                cmos[i] = value;
                Commit(keepFraction: true);
                return;
            case RegA:
                CatchUp();
                cmos[RegA] = (byte)((value & 0x7F) | (cmos[RegA] & 0x80));
                Reschedule();
                return;
            case RegB:
            {
                CatchUp();
                byte old = cmos[RegB];
                if ((value & BSet) != 0)
                {
                    if ((old & BSet) == 0) Snapshot();
                    value = (byte)(value & ~BUie);    // SET clears UIE (datasheet, register B bit 7)
                }
                else if ((old & BSet) != 0)
                {
                    cmos[RegB] = (byte)(value | BSet);     // parse in the format the fields were written in
                    Commit(keepFraction: false);
                }
                cmos[RegB] = value;
                UpdateIrq();
                Reschedule();
                return;
            }
            case RegC: case RegD:
                return;                                // read-only
            default:
                cmos[i] = value;
                return;
        }
    }

    // ---- time fields -----------------------------------------------------------------------------------

    private readonly record struct TimeFields(int Second, int Minute, int Hour, int Weekday, int Day, int Month, int Year);

    private static TimeFields Fields(long guestNs)
    {
        var t = DateTime.UnixEpoch.AddTicks(Math.Max(0, guestNs) / 100);
        return new TimeFields(t.Second, t.Minute, t.Hour, (int)t.DayOfWeek + 1, t.Day, t.Month, t.Year);
    }

    private byte Encode(int v) => (cmos[RegB] & BBinary) != 0 ? (byte)v : (byte)(v / 10 << 4 | v % 10);

    private int Decode(byte v) => (cmos[RegB] & BBinary) != 0 ? v : (v >> 4) * 10 + (v & 0xF);

    private byte TimeField(int i, TimeFields f)
    {
        switch (i)
        {
            case 0: return Encode(f.Second);
            case 2: return Encode(f.Minute);
            case 4:
                if ((cmos[RegB] & B24Hour) != 0) return Encode(f.Hour);
                int h12 = f.Hour % 12 == 0 ? 12 : f.Hour % 12;
                return (byte)(Encode(h12) | (f.Hour >= 12 ? 0x80 : 0));
            case 6: return Encode(f.Weekday);
            case 7: return Encode(f.Day);
            case 8: return Encode(f.Month);
            case 9: return Encode(f.Year % 100);
            default: return Encode(f.Year / 100);
        }
    }

    /// <summary>Copies the running time into the time bytes (entering SET mode or editing one field).</summary>
    private void Snapshot()
    {
        var f = Fields(GuestNs);
        foreach (int i in stackalloc int[] { 0, 2, 4, 6, 7, 8, 9, CenturyIndex })
            cmos[i] = TimeField(i, f);
    }

    /// <summary>Restarts the clock from the time bytes (leaving SET mode or after a one-field write).</summary>
    private void Commit(bool keepFraction)
    {
        long now = GuestNs;
        int hourByte = cmos[4];
        int hour;
        if ((cmos[RegB] & B24Hour) != 0) hour = Decode((byte)hourByte);
        else
        {
            hour = Decode((byte)(hourByte & 0x7F)) % 12;
            if ((hourByte & 0x80) != 0) hour += 12;
        }
        int year = Decode(cmos[CenturyIndex]) * 100 + Decode(cmos[9]);
        int month = Math.Clamp(Decode(cmos[8]), 1, 12);
        year = Math.Clamp(year, 1970, 2200);
        int day = Math.Clamp(Decode(cmos[7]), 1, DateTime.DaysInMonth(year, month));
        var t = new DateTime(year, month, day, Math.Clamp(hour, 0, 23), Math.Clamp(Decode(cmos[2]), 0, 59),
            Math.Clamp(Decode(cmos[0]), 0, 59), DateTimeKind.Utc);
        long guest = (t.Ticks - DateTime.UnixEpoch.Ticks) * 100;
        if (keepFraction) guest += Mod(now, NsPerSecond);
        offsetNs = guest - clock.NowNs;
        checkedUpTo = guest;
        Reschedule();
    }

    private bool Running => (cmos[RegA] & 0x70) == 0x20 && (cmos[RegB] & BSet) == 0;

    private bool UpdateInProgress() => Running && Mod(GuestNs, NsPerSecond) >= NsPerSecond - UipLengthNs;

    private static long Mod(long a, long m) => ((a % m) + m) % m;

    // ---- flags and interrupts ------------------------------------------------------------------------

    /// <summary>Periodic interrupt period in 32.768 kHz cycles (register A rate select), or 0 when off.</summary>
    private int PeriodCycles
    {
        get
        {
            int rs = cmos[RegA] & 0x0F;
            if (rs == 0 || (cmos[RegA] & 0x70) != 0x20) return 0;
            return rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
        }
    }

    private static long Cycles(long guestNs) => ClockMath.MulDiv(guestNs, 32768, NsPerSecond);

    private static long CyclesToNs(long cycles) => ClockMath.MulDivCeiling(cycles, NsPerSecond, 32768);

    /// <summary>Sets PF, UF and AF for the events between the last check and now.</summary>
    private void CatchUp()
    {
        long now = GuestNs;
        long from = checkedUpTo;
        checkedUpTo = now;
        if (now <= from) return;
        int period = PeriodCycles;
        if (period != 0 && Cycles(now) / period != Cycles(from) / period)
            cmos[RegC] |= CPf;
        if (Running && now / NsPerSecond != from / NsPerSecond)
        {
            cmos[RegC] |= CUf;
            if (AlarmMatches(Fields(now / NsPerSecond * NsPerSecond))) cmos[RegC] |= CAf;
        }
        UpdateIrq();
    }

    private bool AlarmMatches(TimeFields f)
    {
        static bool Match(byte alarm, byte current) => (alarm & 0xC0) == 0xC0 || alarm == current;
        return Match(cmos[1], TimeField(0, f)) && Match(cmos[3], TimeField(2, f)) && Match(cmos[5], TimeField(4, f));
    }

    private void UpdateIrq()
    {
        byte b = cmos[RegB], c = cmos[RegC];
        bool pending = ((c & CPf) != 0 && (b & BPie) != 0) || ((c & CAf) != 0 && (b & BAie) != 0)
                       || ((c & CUf) != 0 && (b & BUie) != 0);
        if (pending && (c & CIrqf) == 0)
        {
            cmos[RegC] |= CIrqf;
            irq.Set(true);
        }
    }

    /// <summary>Arms the timer for the next event that would raise IRQ 8, if any.</summary>
    private void Reschedule()
    {
        timer.Cancel();
        if ((cmos[RegC] & CIrqf) != 0) return;       // already pending: nothing new until register C is read
        byte b = cmos[RegB];
        long now = GuestNs, next = long.MaxValue;
        int period = PeriodCycles;
        if ((b & BPie) != 0 && period != 0)
            next = CyclesToNs((Cycles(now) / period + 1) * period);
        if ((b & (BUie | BAie)) != 0 && Running)
            next = Math.Min(next, (now / NsPerSecond + 1) * NsPerSecond);
        if (next != long.MaxValue) timer.Arm(next - offsetNs);
    }

    private void OnTimer()
    {
        CatchUp();
        Reschedule();
    }
}
