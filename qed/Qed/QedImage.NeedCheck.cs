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
    /// Before an allocation whose table update is not ordered behind a flush (no backing file): makes
    /// the need-check bit durable (QEMU writes it without a flush, so a power cut could keep a table
    /// update and lose the bit), and makes sure the file's durable length covers every reserved
    /// cluster, so a table entry can never point past the end of the file after a power cut. The file
    /// is extended ahead in growing steps (half the file, 1 MiB to 1 GiB), each made durable by one
    /// flush; the unused tail is trimmed when the bit is cleared or the image is closed.
    /// Called under the allocation lock, after the clusters are reserved.
    /// </summary>
    private async ValueTask PrepareUnorderedAllocationAsync(CancellationToken ct)
    {
        if (!_header.NeedsCheck)
        {
            _header.Features |= QedFeatures.NeedCheck;
            _counters.Increment(Counter.NeedCheckSets);
            await WriteHeaderAsync(ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
        }
        if (_fileEnd > _durableEnd)
        {
            long ahead = Math.Clamp(_fileEnd / 2, 1L << 20, 1L << 30);
            long target = _g.StartOfCluster(_fileEnd + ahead + _g.ClusterSize - 1);
            await _file.SetLengthAsync(target, ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
            _durableEnd = target;
        }
    }

    /// <summary>Gives back the space extended ahead of the allocations (under the allocation lock, with no allocation in flight).</summary>
    private async ValueTask TrimPreallocationAsync(CancellationToken ct)
    {
        if (_file.GetLength() > _fileEnd)
            await _file.SetLengthAsync(_fileEnd, ct).ConfigureAwait(false);
        _durableEnd = Math.Min(_durableEnd, _fileEnd);
    }

    /// <summary>The timer's work: flush, then clear the bit, unless an allocation is under way.</summary>
    private async Task ClearNeedCheckWhenIdleAsync()
    {
        if (Volatile.Read(ref _allocationsInFlight) != 0 || !_header.NeedsCheck || _disposed) return;
        if (!_allocLock.Wait(0)) return;   // an allocation holds it and re-arms the timer when done
        try
        {
            if (Volatile.Read(ref _allocationsInFlight) != 0 || !_header.NeedsCheck || _disposed) return;
            await TrimPreallocationAsync(default).ConfigureAwait(false);
            await FlushCoreAsync(default).ConfigureAwait(false);
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
            _allocLock.Release();
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
