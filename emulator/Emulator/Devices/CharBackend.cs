using System.Collections.Concurrent;
using Emulator.Machine;

namespace Emulator.Devices;

/// <summary>
/// The host end of a character device (a UART's line, the 0x402 debug console): bytes the guest sends go to
/// <see cref="Write"/> on the loop thread; bytes from the host arrive on a reader thread, wait in a queue and
/// are pulled by the device when it has room, so nothing typed or pasted is lost to a full FIFO.
/// </summary>
public abstract class CharBackend : IDisposable
{
    private readonly ConcurrentQueue<byte> input = new();
    private EventLoop? loop;
    private ILoopWork? onInput;
    private int notifyPending;

    /// <summary>Called on the loop thread: one byte from the guest.</summary>
    public abstract void Write(byte value);

    /// <summary>Called by the loop when it goes idle or ends a slice: push buffered output to the host.</summary>
    public virtual void Flush() { }

    /// <summary>Connects the input side: <paramref name="inputReady"/> runs on the loop when bytes arrive.</summary>
    public void Attach(EventLoop eventLoop, ILoopWork inputReady)
    {
        loop = eventLoop;
        onInput = inputReady;
        if (!input.IsEmpty) NotifyLoop();
    }

    /// <summary>Starts reader threads, listening sockets, etc. (after the machine is assembled).</summary>
    public virtual void Start() { }

    /// <summary>Loop thread: takes one byte of host input if there is one.</summary>
    public bool TryRead(out byte value)
    {
        Volatile.Write(ref notifyPending, 0);
        return input.TryDequeue(out value);
    }

    public bool HasInput => !input.IsEmpty;

    /// <summary>Any thread: queues host input for the guest.</summary>
    protected void Receive(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) input.Enqueue(b);
        NotifyLoop();
    }

    private void NotifyLoop()
    {
        if (loop != null && onInput != null && Interlocked.Exchange(ref notifyPending, 1) == 0)
            loop.Post(onInput);
    }

    public virtual void Dispose() => GC.SuppressFinalize(this);
}

/// <summary>A backend that discards output and never has input (<c>-serial null</c>).</summary>
public sealed class NullCharBackend : CharBackend
{
    public override void Write(byte value) { }
}
