namespace Qed;

/// <summary>
/// The need-check (dirty) bit (QED spec, "Consistency checking"; QEMU qed_start_need_check_timer).
/// An image without a backing file gets the bit before its first allocating write, because its table
/// updates are not ordered behind a flush; the bit is cleared after a flush once allocations have been
/// idle for a while, on a timer driven by a <see cref="TimeProvider"/> (the emulator's virtual clock).
/// </summary>
public sealed partial class QedImage
{
    private readonly NeedCheckTimer _timer;
    /// <summary>Allocating requests from the moment they ask for the lock until their data and tables are written.</summary>
    private int _allocationsInFlight;

    private void OnAllocationStart()
    {
        Interlocked.Increment(ref _allocationsInFlight);
        _timer.Cancel();
    }

    private void OnAllocationEnd()
    {
        if (Interlocked.Decrement(ref _allocationsInFlight) == 0 && _header.NeedsCheck && !_disposed)
            _timer.Arm();
    }

    /// <summary>
    /// Sets the need-check bit and makes it durable before the first table update that is not ordered
    /// behind a flush. QEMU writes the header without a flush here, so a power cut could keep a table
    /// update and lose the bit; the flush closes that hole and costs one flush per dirty period.
    /// Called under the allocation lock.
    /// </summary>
    private async ValueTask EnsureNeedCheckAsync(CancellationToken ct)
    {
        if (_header.NeedsCheck) return;
        _header.Features |= QedFeatures.NeedCheck;
        _counters.Increment(Counter.NeedCheckSets);
        await WriteHeaderAsync(ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The timer's work: write back and flush, then clear the bit, unless an allocation is under way.</summary>
    private async Task ClearNeedCheckWhenIdleAsync()
    {
        if (Volatile.Read(ref _allocationsInFlight) != 0 || !_header.NeedsCheck || _disposed) return;
        // Lock order: write-back lock, then allocation lock. Give up if either is busy: the allocation
        // holding it arms the timer again when it ends.
        if (!_writebackLock.Wait(0)) return;
        if (!TryAcquireAllocation())
        {
            _writebackLock.Release();
            return;
        }
        try
        {
            if (Volatile.Read(ref _allocationsInFlight) != 0 || !_header.NeedsCheck || _disposed) return;
            await TrimExtensionAsync(default).ConfigureAwait(false);
            await FlushCoreAsync(holdingLocks: true, default).ConfigureAwait(false);
            _header.Features &= ~QedFeatures.NeedCheck;
            _counters.Increment(Counter.NeedCheckClears);
            await WriteHeaderAsync().ConfigureAwait(false);
            await _file.FlushAsync().ConfigureAwait(false);
        }
        catch (ImageException)
        {
            // The bit stays set on disk; the next read-write open checks the image. Nothing is lost.
            _header.Features |= QedFeatures.NeedCheck;
        }
        finally
        {
            ReleaseAllocation();
            _writebackLock.Release();
        }
    }

    private sealed class NeedCheckTimer : IDisposable
    {
        private readonly QedImage _image;
        private readonly ITimer _timer;
        private readonly TimeSpan _delay;
        private Task _work = Task.CompletedTask;
        private bool _stopped;

        public NeedCheckTimer(QedImage image, TimeProvider time, TimeSpan delay)
        {
            _image = image;
            _delay = delay;
            _timer = time.CreateTimer(static s => ((NeedCheckTimer)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        public void Arm()
        {
            lock (this) if (!_stopped) _timer.Change(_delay, Timeout.InfiniteTimeSpan);
        }

        public void Cancel()
        {
            lock (this) if (!_stopped) _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        private void Fire()
        {
            lock (this)
            {
                if (_stopped) return;
                _work = _image.ClearNeedCheckWhenIdleAsync();
            }
        }

        /// <summary>Stops the timer and waits for a clear that is already running.</summary>
        public async Task StopAsync()
        {
            Task work;
            lock (this)
            {
                _stopped = true;
                _timer.Dispose();
                work = _work;
            }
            await work.ConfigureAwait(false);
        }

        public void Dispose()
        {
            lock (this)
            {
                _stopped = true;
                _timer.Dispose();
            }
        }
    }
}
