using Emulator.Bus;
using Emulator.Machine;

namespace Emulator.Devices;

/// <summary>
/// A 16550A UART (COM1: 0x3F8/IRQ 4, COM2: 0x2F8/IRQ 3) per the National PC16550D datasheet: 16-byte receive
/// FIFO with trigger levels and the character-timeout indication, IER/IIR priorities, LSR/MSR, loopback.
/// Transmission is instantaneous (the byte goes straight to the backend), so THR and the transmitter are
/// always empty again by the time the guest looks. The interrupt follows QEMU's model (not gated by OUT2).
/// </summary>
public sealed class Uart16550 : IPortDevice, ILoopWork
{
    private const byte IerRdi = 1, IerThri = 2, IerRlsi = 4, IerMsi = 8;
    private const byte LsrDr = 0x01, LsrOe = 0x02, LsrBi = 0x10, LsrThre = 0x20, LsrTemt = 0x40, LsrErrors = 0x1E;
    private const byte McrLoop = 0x10;
    private const int FifoSize = 16;

    private readonly VirtualClock clock;
    private readonly IrqLine irq;
    private readonly DeviceTimer timeoutTimer;
    private readonly byte[] rxFifo = new byte[FifoSize];
    private int rxHead, rxCount;
    private CharBackend backend;

    private ushort divisor;
    private byte ier, lcr, mcr, lsr, msr, scr, fcr;
    private bool thrPending, timeoutPending;

    public ushort BasePort { get; }

    public Uart16550(ushort basePort, VirtualClock clock, IrqLine irq, CharBackend backend)
    {
        BasePort = basePort;
        this.clock = clock;
        this.irq = irq;
        this.backend = backend;
        timeoutTimer = clock.CreateTimer("uart-timeout", OnTimeout);
        Reset();
    }

    public CharBackend Backend => backend;

    public void Register(IoPortBus io) => io.Register(BasePort, 8, this);

    public void Reset()
    {
        divisor = 12;                          // 9600 baud
        ier = lcr = mcr = scr = fcr = 0;
        lsr = LsrThre | LsrTemt;
        msr = 0xB0;                            // DCD, DSR, CTS: a connected line, as QEMU reports
        rxHead = rxCount = 0;
        thrPending = timeoutPending = false;
        timeoutTimer.Cancel();
        UpdateIrq();
    }

    /// <summary>Loop work: the backend has input.</summary>
    void ILoopWork.Execute() => PullInput();

    private bool FifoEnabled => (fcr & 1) != 0;
    private int Capacity => FifoEnabled ? FifoSize : 1;
    private int TriggerLevel => (fcr >> 6) switch { 0 => 1, 1 => 4, 2 => 8, _ => 14 };

    /// <summary>Moves host input into the receive FIFO while it has room.</summary>
    public void PullInput()
    {
        if ((mcr & McrLoop) != 0) return;      // in loopback the line input is disconnected
        bool got = false;
        while (rxCount < Capacity && backend.TryRead(out byte b))
        {
            PushRx(b);
            got = true;
        }
        if (got) ArmTimeout();
        UpdateIrq();
    }

    private void PushRx(byte b)
    {
        if (rxCount == Capacity)
        {
            lsr |= LsrOe;                      // overrun: only reachable in loopback
            return;
        }
        rxFifo[(rxHead + rxCount) % FifoSize] = b;
        rxCount++;
        lsr |= LsrDr;
    }

    /// <summary>Four character times at the programmed rate: the 16550's character-timeout delay.</summary>
    private long CharacterTimeNs
    {
        get
        {
            int bits = 1 + 5 + (lcr & 3) + ((lcr & 8) != 0 ? 1 : 0) + ((lcr & 4) != 0 ? 2 : 1);
            long baudDivisor = divisor == 0 ? 1 : divisor;
            return bits * baudDivisor * 1_000_000_000L / 115_200;
        }
    }

    private void ArmTimeout()
    {
        timeoutPending = false;
        if (FifoEnabled && rxCount > 0) timeoutTimer.Arm(clock.NowNs + 4 * CharacterTimeNs);
        else timeoutTimer.Cancel();
    }

    private void OnTimeout()
    {
        if (rxCount > 0) timeoutPending = true;
        UpdateIrq();
    }

    private byte CurrentIir()
    {
        if ((ier & IerRlsi) != 0 && (lsr & LsrErrors) != 0) return 0x06;
        if ((ier & IerRdi) != 0 && timeoutPending) return 0x0C;
        if ((ier & IerRdi) != 0 && rxCount > 0 && (!FifoEnabled || rxCount >= TriggerLevel)) return 0x04;
        if ((ier & IerThri) != 0 && thrPending) return 0x02;
        if ((ier & IerMsi) != 0 && (msr & 0x0F) != 0) return 0x00;
        return 0x01;
    }

    private void UpdateIrq() => irq.Set(CurrentIir() != 0x01);

    // ---- ports ---------------------------------------------------------------------------------------

    public uint In(ushort port, int size)
    {
        bool dlab = (lcr & 0x80) != 0;
        switch (port - BasePort)
        {
            case 0:
                if (dlab) return (byte)divisor;
                return ReadRbr();
            case 1:
                return dlab ? (uint)(divisor >> 8) : ier;
            case 2:
            {
                byte iir = CurrentIir();
                if (iir == 0x02) { thrPending = false; UpdateIrq(); }
                return (uint)(iir | (FifoEnabled ? 0xC0 : 0));
            }
            case 3: return lcr;
            case 4: return mcr;
            case 5:
            {
                byte v = lsr;
                if ((lsr & LsrErrors) != 0) { lsr = (byte)(lsr & ~(LsrErrors | 0x80)); UpdateIrq(); }
                return v;
            }
            case 6:
            {
                byte v = msr;
                if ((msr & 0x0F) != 0) { msr &= 0xF0; UpdateIrq(); }
                return v;
            }
            default: return scr;
        }
    }

    private byte ReadRbr()
    {
        byte b = 0;
        if (rxCount > 0)
        {
            b = rxFifo[rxHead];
            rxHead = (rxHead + 1) % FifoSize;
            rxCount--;
        }
        if (rxCount == 0) lsr = (byte)(lsr & ~LsrDr);
        timeoutPending = false;
        PullInput();
        ArmTimeout();
        UpdateIrq();
        return b;
    }

    public void Out(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        bool dlab = (lcr & 0x80) != 0;
        switch (port - BasePort)
        {
            case 0:
                if (dlab) { divisor = (ushort)((divisor & 0xFF00) | v); break; }
                Transmit(v);
                break;
            case 1:
                if (dlab) { divisor = (ushort)((divisor & 0x00FF) | v << 8); break; }
                byte changed = (byte)(ier ^ (v & 0x0F));
                ier = (byte)(v & 0x0F);
                // Enabling the THRE interrupt while THR is empty raises it at once (datasheet, IIR table).
                if ((changed & IerThri) != 0) thrPending = (ier & IerThri) != 0 && (lsr & LsrThre) != 0;
                UpdateIrq();
                break;
            case 2:
                WriteFcr(v);
                break;
            case 3:
                lcr = v;
                break;
            case 4:
                WriteMcr((byte)(v & 0x1F));
                break;
            case 5: case 6:
                break;                                  // LSR and MSR are read-only here
            default:
                scr = v;
                break;
        }
    }

    private void Transmit(byte v)
    {
        thrPending = false;
        if ((mcr & McrLoop) != 0) PushRx(v);
        else backend.Write(v);
        // The byte leaves at once: THR and the shift register are empty again.
        lsr |= LsrThre | LsrTemt;
        thrPending = true;
        if ((mcr & McrLoop) != 0) ArmTimeout();
        UpdateIrq();
    }

    private void WriteFcr(byte v)
    {
        bool enable = (v & 1) != 0;
        if (enable != FifoEnabled || (v & 2) != 0)
        {
            rxHead = rxCount = 0;
            lsr = (byte)(lsr & ~LsrDr);
            timeoutPending = false;
            timeoutTimer.Cancel();
        }
        fcr = (byte)(v & 0xC9);
        if (!enable) fcr = 0;
        PullInput();
    }

    private void WriteMcr(byte v)
    {
        byte old = mcr;
        mcr = v;
        if ((v & McrLoop) != 0)
        {
            // Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
            byte lines = (byte)(((v & 1) != 0 ? 0x20 : 0) | ((v & 2) != 0 ? 0x10 : 0)
                                | ((v & 4) != 0 ? 0x40 : 0) | ((v & 8) != 0 ? 0x80 : 0));
            SetModemLines(lines);
        }
        else if ((old & McrLoop) != 0)
        {
            SetModemLines(0xB0);
            PullInput();
        }
        UpdateIrq();
    }

    private void SetModemLines(byte lines)
    {
        byte old = msr;
        byte delta = (byte)(old & 0x0F);
        if (((old ^ lines) & 0x10) != 0) delta |= 0x01;            // DCTS
        if (((old ^ lines) & 0x20) != 0) delta |= 0x02;            // DDSR
        if ((old & 0x40) != 0 && (lines & 0x40) == 0) delta |= 0x04; // TERI: trailing edge of RI
        if (((old ^ lines) & 0x80) != 0) delta |= 0x08;            // DDCD
        msr = (byte)(lines | delta);
    }

    // ---- inspection ------------------------------------------------------------------------------------

    public int ReceiveFifoCount => rxCount;
    public bool InterruptPending => CurrentIir() != 0x01;
}
