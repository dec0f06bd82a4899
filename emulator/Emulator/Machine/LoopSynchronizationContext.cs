namespace Emulator.Machine;

/// <summary>Sends continuations of <c>await</c>s started on the loop thread back to the loop, so device code
/// written with async/await never touches device state from a thread-pool thread.</summary>
public sealed class LoopSynchronizationContext : SynchronizationContext
{
    private readonly EventLoop loop;

    public LoopSynchronizationContext(EventLoop loop) => this.loop = loop;

    public override void Post(SendOrPostCallback d, object? state) => loop.Post(new Callback(d, state));

    public override void Send(SendOrPostCallback d, object? state)
    {
        if (loop.IsOnLoopThread) d(state);
        else throw new InvalidOperationException("synchronous calls into the emulator thread are not supported");
    }

    public override SynchronizationContext CreateCopy() => this;

    private sealed class Callback(SendOrPostCallback d, object? state) : ILoopWork
    {
        public void Execute() => d(state);
    }
}
