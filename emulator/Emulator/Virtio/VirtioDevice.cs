using Emulator.Bus;

namespace Emulator.Virtio;

/// <summary>
/// The transport-independent state of a virtio device (virtio 1.2 sections 2.1-2.4, 3.1): device status and
/// its handshake, feature negotiation, the ISR, the queues, and the "broken" state QEMU enters on a driver
/// error (virtio_error: stop processing; on a VERSION_1 device also set NEEDS_RESET and signal a configuration
/// change). A reset (status 0) brings everything back.
/// </summary>
public abstract class VirtioDevice
{
    public const byte StatusAcknowledge = 1, StatusDriver = 2, StatusDriverOk = 4, StatusFeaturesOk = 8,
        StatusNeedsReset = 0x40, StatusFailed = 0x80;

    public const int FeatureNotifyOnEmpty = 24, FeatureAnyLayout = 27, FeatureIndirectDesc = 28,
        FeatureEventIdx = 29, FeatureBadFeature = 30, FeatureVersion1 = 32, FeatureRingReset = 40;

    private byte status;

    protected MemoryBus Memory { get; }
    public VirtQueue[] Queues { get; }

    /// <summary>Set by the transport: called whenever <see cref="Isr"/> changes.</summary>
    internal Action? InterruptChanged { get; set; }

    /// <summary>Receives one line per driver error (virtio_error) and backend problem.</summary>
    public Action<string>? Warning { get; set; }

    public ulong DriverFeatures { get; private set; }
    public byte Isr { get; private set; }
    public byte ConfigGeneration { get; private set; }
    public bool Broken { get; private set; }
    public string? BrokenReason { get; private set; }

    protected VirtioDevice(MemoryBus memory, int queueCount, ushort queueSize)
    {
        Memory = memory;
        Queues = new VirtQueue[queueCount];
        for (int i = 0; i < queueCount; i++) Queues[i] = new VirtQueue(memory, i, queueSize);
    }

    /// <summary>Virtio device ID (2 = block).</summary>
    public abstract ushort DeviceId { get; }

    /// <summary>Device-type feature bits (0-23).</summary>
    protected abstract ulong DeviceTypeFeatures { get; }

    /// <summary>Length of the device-specific configuration structure.</summary>
    public abstract int ConfigLength { get; }

    public abstract byte ReadConfigByte(int offset);

    public abstract void WriteConfigByte(int offset, byte value);

    /// <summary>The driver made buffers available on a queue.</summary>
    protected abstract void ProcessQueue(VirtQueue queue);

    /// <summary>Device-specific part of a reset (abandon requests in flight, restore configuration).</summary>
    protected abstract void ResetDevice();

    /// <summary>Features offered through the modern interface.</summary>
    public ulong ModernFeatures => DeviceTypeFeatures | 1UL << FeatureIndirectDesc | 1UL << FeatureEventIdx
        | 1UL << FeatureVersion1 | 1UL << FeatureRingReset;

    /// <summary>Features offered through the legacy interface (32 bits; QEMU adds NOTIFY_ON_EMPTY, ANY_LAYOUT and
    /// the BAD_FEATURE canary bit 30 that no correct driver acknowledges).</summary>
    public uint LegacyFeatures => (uint)(DeviceTypeFeatures | 1UL << FeatureNotifyOnEmpty | 1UL << FeatureAnyLayout
        | 1UL << FeatureIndirectDesc | 1UL << FeatureEventIdx | 1UL << FeatureBadFeature);

    public bool HasFeature(int bit) => (DriverFeatures & 1UL << bit) != 0;

    public byte Status => status;
    public bool DriverOk => (status & StatusDriverOk) != 0;

    // ---- negotiation ---------------------------------------------------------------------------------

    /// <summary>Legacy guest-features write: unoffered bits are dropped; acknowledging BAD_FEATURE means a
    /// broken driver, which gets no features at all (QEMU's bad_features fallback).</summary>
    public void SetLegacyDriverFeatures(uint value)
    {
        if ((value & 1u << FeatureBadFeature) != 0) value = 0;
        SetDriverFeatures(value & LegacyFeatures);
    }

    /// <summary>Modern driver-features write of one 32-bit window; ignored once FEATURES_OK is set.</summary>
    public void SetModernDriverFeatures(int window, uint value)
    {
        if ((status & StatusFeaturesOk) != 0 || (uint)window > 1) return;
        int shift = 32 * window;
        ulong mask = 0xFFFF_FFFFUL << shift;
        ulong features = (DriverFeatures & ~mask) | ((ulong)value << shift & mask);
        SetDriverFeatures(features & ModernFeatures);
    }

    private void SetDriverFeatures(ulong features)
    {
        DriverFeatures = features;
        foreach (var q in Queues)
        {
            q.EventIdx = HasFeature(FeatureEventIdx);
            q.NotifyOnEmpty = HasFeature(FeatureNotifyOnEmpty);
        }
    }

    /// <summary>A device-status write (legacy and modern). Writing 0 resets the device.</summary>
    public void SetStatus(byte value, bool modern)
    {
        if (value == 0)
        {
            Reset();
            return;
        }
        byte old = status;
        // FEATURES_OK is refused (stays clear) when a modern driver did not accept VERSION_1 (spec 3.1.1).
        if (modern && (value & StatusFeaturesOk) != 0 && (old & StatusFeaturesOk) == 0 && !HasFeature(FeatureVersion1))
            value = (byte)(value & ~StatusFeaturesOk);
        status = (byte)((value & ~StatusNeedsReset) | (old & StatusNeedsReset));
        if ((status & StatusDriverOk) != 0 && (old & StatusDriverOk) == 0 && !Broken)
            foreach (var q in Queues) Kick(q);
    }

    /// <summary>Clears DRIVER_OK (the PCI bus-master bit was turned off).</summary>
    public void StopDriver() => status = (byte)(status & ~StatusDriverOk);

    public void Reset()
    {
        ResetDevice();
        status = 0;
        SetDriverFeatures(0);
        Broken = false;
        BrokenReason = null;
        foreach (var q in Queues) q.Reset();
        SetIsr(0);
    }

    // ---- queues and interrupts -----------------------------------------------------------------------

    /// <summary>VIRTIO_F_RING_RESET (spec 2.6.1): the driver resets one queue; requests taken from it are
    /// abandoned, and the queue stays off until the driver enables it again.</summary>
    public void ResetQueue(VirtQueue q)
    {
        if (!HasFeature(FeatureRingReset)) return;
        q.Reset();
        q.ResetPending = true;
    }

    /// <summary>A queue notification from the driver (legacy notify register or modern notify region).</summary>
    public void Notify(int queueIndex)
    {
        if ((uint)queueIndex >= (uint)Queues.Length) return;      // out-of-range indices are ignored, as in QEMU
        Kick(Queues[queueIndex]);
    }

    protected void Kick(VirtQueue q)
    {
        if (Broken || !q.Enabled) return;
        ProcessQueue(q);
    }

    /// <summary>After pushing used buffers: interrupt the driver if it wants one.</summary>
    protected void InterruptIfNeeded(VirtQueue q)
    {
        if (q.ShouldInterrupt()) SetIsr((byte)(Isr | 1));
    }

    /// <summary>ISR read: returns and clears the bits, releasing INTx (virtio 1.2 section 4.1.4.5).</summary>
    public byte ReadAndClearIsr()
    {
        byte v = Isr;
        if (v != 0) SetIsr(0);
        return v;
    }

    private void SetIsr(byte value)
    {
        Isr = value;
        InterruptChanged?.Invoke();
    }

    /// <summary>A configuration change: bump the generation and, once the driver is up, interrupt it.</summary>
    protected void ConfigChanged()
    {
        ConfigGeneration++;
        if (DriverOk) SetIsr((byte)(Isr | 3));
    }

    /// <summary>QEMU's virtio_error: the driver broke the protocol. Stop all processing until reset.</summary>
    public void SetBroken(string reason)
    {
        if (Broken) return;
        Broken = true;
        BrokenReason = reason;
        Warning?.Invoke($"virtio device broken until reset: {reason}");
        if (HasFeature(FeatureVersion1))
        {
            status |= StatusNeedsReset;
            ConfigChanged();
        }
    }
}
