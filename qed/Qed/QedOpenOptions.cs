namespace Qed;

/// <summary>How a QED image is opened.</summary>
public sealed record QedOpenOptions
{
    public bool ReadOnly { get; init; }

    /// <summary>Do not open the backing file (qemu-img info and check open images this way).</summary>
    public bool NoBacking { get; init; }

    /// <summary>
    /// Open for the check command: a dirty image is not repaired on open (the caller runs
    /// <see cref="QedImage.CheckAsync"/> itself).
    /// </summary>
    public bool CheckMode { get; init; }

    /// <summary>Clock for the need-check timer; the emulator passes its virtual clock (deterministic mode).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Idle time after the last allocating write before the need-check bit is cleared (QEMU: 5 s).</summary>
    public TimeSpan NeedCheckDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Host I/O runs on the caller's thread and is complete when each call returns
    /// (<see cref="Storage.SynchronousHostImageFile"/>; backing files too): nothing goes through the thread
    /// pool, so requests, timers and metadata writes happen in the caller's order. The emulator's
    /// deterministic mode sets it.
    /// </summary>
    public bool SynchronousIo { get; init; }

    /// <summary>Memory for cached L2 tables (at least two tables are kept whatever this says).</summary>
    public long L2CacheBytes { get; init; } = 64L << 20;

    /// <summary>
    /// Opens a backing file given its resolved path and its format ("qed", "raw", or null to probe).
    /// Backing files are always opened read-only. Null uses <see cref="ImageOpener"/>.
    /// </summary>
    public Func<string, string?, CancellationToken, ValueTask<IBlockDevice>>? BackingOpener { get; init; }

    /// <summary>
    /// Full path of one image in the backing chain to open read-write (the commit target); every
    /// other backing file is opened read-only.
    /// </summary>
    public string? WritableBackingPath { get; init; }

    /// <summary>Full paths of the images above this one in the chain (loop detection).</summary>
    internal IReadOnlySet<string>? ChainPaths { get; init; }
}
