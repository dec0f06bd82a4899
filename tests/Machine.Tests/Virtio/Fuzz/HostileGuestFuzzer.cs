using System.Buffers.Binary;
using Emulator.Virtio;
using Machine.Tests.Support;
using Qed;

namespace Machine.Tests.Virtio.Fuzz;

/// <summary>The disk behind the fuzzed device.</summary>
public enum FuzzDisk { Qed, QedOverBacking, QedReadOnly, Raw }

/// <summary>One fuzzing run's parameters.</summary>
public sealed record HostileGuestOptions
{
    public int Seed { get; init; }
    public int Batches { get; init; } = 400;
    public FuzzDisk Disk { get; init; } = FuzzDisk.Qed;
    /// <summary>Percent of the image file's operations that complete later, on a pool thread.</summary>
    public int AsyncPercent { get; init; }
    /// <summary>How long a batch may wait for its completions before it counts as a hang.</summary>
    public TimeSpan BatchTimeout { get; init; } = TimeSpan.FromSeconds(20);
}

/// <summary>Figures of a run (thread-safe adds).</summary>
public sealed class HostileGuestStats
{
    public long Batches, Requests, Completed, Ok, IoErr, Unsupp, Hostile, BrokenStates, MidFlightResets, Scribbles, BytesVerified;
    public readonly List<string> Failures = new();

    public void Add(HostileGuestStats o)
    {
        lock (this)
        {
            Batches += o.Batches; Requests += o.Requests; Completed += o.Completed; Ok += o.Ok; IoErr += o.IoErr; Unsupp += o.Unsupp;
            Hostile += o.Hostile; BrokenStates += o.BrokenStates; MidFlightResets += o.MidFlightResets; Scribbles += o.Scribbles;
            BytesVerified += o.BytesVerified;
            Failures.AddRange(o.Failures);
        }
    }

    public override string ToString() =>
        $"{Batches} batches, {Requests} requests ({Completed} completed: {Ok} OK, {IoErr} IOERR, {Unsupp} UNSUPP), {Hostile} hostile chains, " +
        $"{BrokenStates} broken states, {MidFlightResets} resets with requests in flight, {Scribbles} register scribbles, " +
        $"{BytesVerified} bytes read back against the model; {Failures.Count} failures";
}

/// <summary>
/// A guest that drives the virtio-blk device directly through its rings, as a driver (or its bug) would:
/// batches of requests of every type, most well formed, with data split across descriptors in any layout,
/// direct and indirect; and hostile chains (loops, next or head out of range, indirect tables of bad sizes
/// or nested, buffers outside RAM or in MMIO, zero and huge lengths, readable after writable, missing
/// headers, avail index jumps), resets with requests in flight, and scribbles over the transport's
/// registers. An oracle written from QEMU's virtio-blk predicts each request's status, used length and
/// data, and whether the device goes broken; a model of the disk checks every byte read back.
/// </summary>
public sealed class HostileGuestFuzzer
{
    private const ulong AllFeatures = ~0UL & ~(1UL << 30);
    private const long DiskSize = 2 << 20;
    private const ulong DataBase = 0x600000, DataEnd = 0x1F00000;
    private const string Serial = "robust-fuzz-disk";
    private static readonly ulong[] BadAddresses = [0xF000_0000, 0x7FFF_0000, 0xFE00_0000, HostileGuestRig.RamSize - 8, 0xFFFF_FFFF_FFFF_F000, HostileGuestRig.RamSize];

    private readonly HostileGuestOptions _o;
    private readonly Random _rng;
    private readonly HostileGuestStats _stats = new();
    private HostileGuestRig _rig = null!;
    private MiniVirtioDriver _d = null!;
    private IBlockDevice _disk = null!;
    private PolicedImageFile _file = null!;
    private byte[] _model = null!;
    private bool _readOnly;
    private ulong _bump;
    private readonly Stack<ushort> _free = new();
    private bool _needInit = true;

    private HostileGuestFuzzer(HostileGuestOptions options)
    {
        _o = options;
        _rng = new Random(options.Seed);
    }

    /// <summary>Runs a fuzzing session and returns its figures; failures are listed, not thrown.</summary>
    public static async Task<HostileGuestStats> RunAsync(HostileGuestOptions options)
    {
        var f = new HostileGuestFuzzer(options);
        // The loop thread is the one running the session: a dedicated thread, so that nothing the
        // device does can depend on the caller's context.
        var done = new TaskCompletionSource<HostileGuestStats>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try { done.SetResult(f.Session()); }
            catch (Exception e) { done.SetException(e); }
        }) { IsBackground = true, Name = "hostile guest" };
        thread.Start();
        var limit = options.BatchTimeout * 4 + TimeSpan.FromSeconds(options.Batches / 10.0 + 30);
        try
        {
            return await done.Task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            f._stats.Failures.Add($"seed {options.Seed}: the session did not end within {limit.TotalSeconds:0} s (hang)");
            return f._stats;
        }
    }

    private string Where => $"seed {_o.Seed}, {_o.Disk}, async {_o.AsyncPercent}%, batch {_stats.Batches}";

    private void Fail(string what)
    {
        lock (_stats) _stats.Failures.Add($"{Where}: {what}");
    }

    private HostileGuestStats Session()
    {
        OpenDisk();
        _rig = new HostileGuestRig(_disk, new VirtioBlkOptions { ReadOnly = _readOnly, Serial = Serial });
        _rig.Loop.BindToCurrentThread();
        _d = _rig.Driver;
        try
        {
            for (int b = 0; b < _o.Batches && _stats.Failures.Count == 0; b++)
            {
                _stats.Batches++;
                try
                {
                    int what = _rng.Next(100);
                    if (what < 4) Scribble();
                    else if (what < 12 && _o.AsyncPercent > 0) Batch(midFlightReset: true);
                    else Batch(midFlightReset: false);
                }
                catch (Exception e)
                {
                    Fail($"host exception {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                }
                CheckWarnings();
            }
            if (_stats.Failures.Count == 0) FinalCheck();
        }
        catch (Exception e)
        {
            Fail($"host exception {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        }
        finally
        {
            _rig.Dispose();
        }
        return _stats;
    }

    // ---- the disk --------------------------------------------------------------------------------------

    private void OpenDisk()
    {
        _readOnly = _o.Disk == FuzzDisk.QedReadOnly;
        int asyncPercent = _o.AsyncPercent;
        if (_o.Disk == FuzzDisk.Raw)
        {
            _file = new PolicedImageFile("/fuzz/disk.raw", new byte[DiskSize], DiskSize, false, asyncPercent, _o.Seed);
            _disk = new RawImage(_file, readOnly: false);
            _model = new byte[DiskSize];
            return;
        }
        byte[]? backing = null;
        if (_o.Disk == FuzzDisk.QedOverBacking)
        {
            backing = new byte[DiskSize - 64 * 1024];
            new Random(_o.Seed).NextBytes(backing);
        }
        var create = new PolicedImageFile("/fuzz/disk.qed", [], 64L << 20, false, 0, _o.Seed);
        QedImage.CreateAsync(create, new QedCreateOptions
        {
            Size = DiskSize, ClusterSize = 4096, TableSize = 1,
            BackingFile = backing is null ? null : "base.raw", BackingFormat = backing is null ? null : "raw",
        }).GetAwaiter().GetResult();
        var bytes = create.ToArray();
        if (_readOnly)
        {
            // A read-only disk with some data in it.
            var writable = new PolicedImageFile("/fuzz/disk.qed", bytes, 64L << 20, false, 0, _o.Seed);
            var img = QedImage.OpenAsync(writable, new QedOpenOptions { TimeProvider = new ManualClock() }).GetAwaiter().GetResult();
            var data = new byte[256 * 1024];
            new Random(_o.Seed + 1).NextBytes(data);
            img.WriteAsync(512 * 1024, data).AsTask().GetAwaiter().GetResult();
            img.DisposeAsync().AsTask().GetAwaiter().GetResult();
            bytes = writable.ToArray();
        }
        _file = new PolicedImageFile("/fuzz/disk.qed", bytes, 64L << 20, _readOnly, asyncPercent, _o.Seed);
        _disk = QedImage.OpenAsync(_file, new QedOpenOptions
        {
            ReadOnly = _readOnly,
            TimeProvider = new ManualClock(),
            L2CacheBytes = 1,   // two tables cached: lookups read tables while requests are in flight
            BackingOpener = (_, _, _) => ValueTask.FromResult<IBlockDevice>(
                new RawImage(new PolicedImageFile("/fuzz/base.raw", backing!, backing!.Length, true, asyncPercent, _o.Seed + 2), readOnly: true)),
        }).GetAwaiter().GetResult();
        _model = ReadBackend();
    }

    /// <summary>The disk's content read through the block device itself (not through the guest).</summary>
    private byte[] ReadBackend()
    {
        var all = new byte[_disk.Size];
        for (long pos = 0; pos < all.Length; pos += 1 << 20)
            _disk.ReadAsync(pos, all.AsMemory((int)pos, (int)Math.Min(1 << 20, all.Length - pos))).AsTask().GetAwaiter().GetResult();
        return all;
    }

    /// <summary>A clock that never fires on its own (the need-check timer stays armed; close clears the bit).</summary>
    private sealed class ManualClock : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Never();
        private sealed class Never : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;
            public void Dispose() { }
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    private void CheckWarnings()
    {
        lock (_rig.Warnings)
        {
            // The engine reports a backend exception that is not an ImageException with its type name.
            foreach (var w in _rig.Warnings)
                if (w.Contains("Exception:")) Fail($"the backend threw: {w}");
            _rig.Warnings.Clear();
        }
        lock (_file.Violations)
            if (_file.Violations.Count > 0) Fail($"the disk's image file was used out of bounds: {_file.Violations[0]}");
    }

    // ---- driver side -----------------------------------------------------------------------------------

    private void Init()
    {
        bool legacy = _rng.Next(5) == 0;
        if (legacy) _d.InitLegacy(AllFeatures);
        else
        {
            ushort size = _rng.Next(4) == 0 ? (ushort)(8 << _rng.Next(0, 6)) : (ushort)0;
            if (!_d.InitModern(AllFeatures, size)) throw new InvalidOperationException("FEATURES_OK refused");
        }
        _free.Clear();
        for (int i = _d.QueueSize - 1; i >= 0; i--) _free.Push((ushort)i);
        _needInit = false;
    }

    private ulong Alloc(uint size, uint align = 8)
    {
        _bump = (_bump + align - 1) & ~(ulong)(align - 1);
        ulong at = _bump;
        _bump += size;
        if (_bump > DataEnd) throw new InvalidOperationException("fuzzer data region exhausted");
        return at;
    }

    private void Fill(ulong address, ReadOnlySpan<byte> bytes) => _rig.Memory.DmaWrite(address, bytes);

    private byte[] Read(ulong address, int length)
    {
        var b = new byte[length];
        _rig.Memory.DmaRead(address, b);
        return b;
    }

    /// <summary>A buffer of the chain: where, how long, device-writable or not, and extra flags (hostile).</summary>
    private record struct Seg(ulong Addr, uint Len, bool Writable, ushort ExtraFlags = 0, ushort? Next = null);

    private enum Expect { Complete, Broken, NotProcessed }

    private sealed class Req
    {
        public string What = "";
        public readonly List<Seg> Segs = new();
        public bool Indirect;
        public ushort Head;
        public readonly List<ushort> Descs = new();
        public ulong Table;
        public Expect Expect = Expect.Complete;
        public byte Status;
        public long Writable;
        /// <summary>IN: where the read data lands and the disk bytes it must equal. OUT: what the disk becomes.</summary>
        public ulong DataAt;
        public long Offset = -1, Length;
        public byte[]? Payload;
        public bool Zeroes, GetId;
        public ulong StatusAt;
        public bool Done;
        public uint UsedLength;
        public bool BadHead;
    }

    /// <summary>Splits [at, at+length) into 1-3 consecutive buffers.</summary>
    private void Split(List<Seg> segs, ulong at, long length, bool writable)
    {
        if (length <= 0) return;
        int parts = (int)Math.Min(length, _rng.Next(1, 4));
        var cuts = Enumerable.Range(0, parts - 1).Select(_ => _rng.NextInt64(1, length)).Distinct().OrderBy(x => x).ToList();
        long prev = 0;
        foreach (var c in cuts.Append(length))
        {
            segs.Add(new Seg(at + (ulong)prev, (uint)(c - prev), writable));
            prev = c;
        }
    }

    private ulong Sector(long sectors, int length)
    {
        return _rng.Next(10) switch
        {
            < 7 => (ulong)_rng.NextInt64(0, Math.Max(1, sectors - Math.Max(1, length / 512) + 1)),
            7 => (ulong)(sectors - _rng.Next(0, 3)),                       // at or near the end
            8 => (ulong)sectors + (ulong)_rng.Next(0, 100),               // past it
            _ => _rng.Next(2) == 0 ? ulong.MaxValue - (ulong)_rng.Next(0, 8) : 1UL << _rng.Next(20, 63),
        };
    }

    /// <summary>A request the device must handle without going broken; its expected status from QEMU's rules.</summary>
    private Req WellFormed(List<(long Start, long End)> taken)
    {
        long sectors = DiskSize / 512;
        var r = new Req();
        int kind = _rng.Next(100);
        uint type = kind switch
        {
            < 34 => VirtioBlkRequest.TypeIn,
            < 68 => VirtioBlkRequest.TypeOut,
            < 76 => VirtioBlkRequest.TypeFlush,
            < 80 => VirtioBlkRequest.TypeGetId,
            < 85 => VirtioBlkRequest.TypeDiscard,
            < 93 => VirtioBlkRequest.TypeWriteZeroes,
            _ => new uint[] { 2, 99, 10, 12, 0x7FFF_FFFF, VirtioBlkRequest.TypeIn | VirtioBlkRequest.TypeBarrier }[_rng.Next(6)],
        };
        int length = _rng.Next(10) switch
        {
            < 6 => _rng.Next(1, 65) * 512,
            6 => _rng.Next(1, 64 * 512),                                  // not whole sectors
            7 => 0,
            _ => _rng.Next(1, 9) * 512,
        };
        ulong sector = Sector(sectors, length);
        ulong header = Alloc(16);
        Span<byte> h = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(h, type);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], sector);
        // QEMU's virtio_blk_sect_range_ok: whole sectors, inside the disk.
        bool RangeOk(ulong first, long bytes) => bytes % 512 == 0 && first <= (ulong)sectors && (ulong)bytes / 512 <= (ulong)sectors - first;
        bool inRange(long bytes) => RangeOk(sector, bytes);
        uint baseType = type & ~(VirtioBlkRequest.TypeOut | VirtioBlkRequest.TypeBarrier);

        if (baseType == VirtioBlkRequest.TypeIn)
        {
            bool write = (type & VirtioBlkRequest.TypeOut) != 0;
            long start = (long)Math.Min(sector, (ulong)sectors) * 512;
            // Requests in flight together never overlap (a guest that did would see either order): an
            // overlapping one becomes an empty request at sector 0.
            if (inRange(length) && taken.Any(t => start < t.End && t.Start < start + length))
            {
                sector = 0;
                length = 0;
                BinaryPrimitives.WriteUInt64LittleEndian(h[8..], 0);
            }
            bool ok = inRange(length) && !(write && _readOnly);
            r.What = $"{(write ? "write" : "read")} of {length} bytes at sector {sector}";
            if (write)
            {
                r.Payload = new byte[length];
                _rng.NextBytes(r.Payload);
                ulong buf = Alloc((uint)(16 + length), 16);
                Fill(buf, h);
                Fill(buf + 16, r.Payload);
                Split(r.Segs, buf, 16 + length, writable: false);
                r.StatusAt = Alloc(1);
                r.Segs.Add(new Seg(r.StatusAt, 1, true));
                r.Writable = 1;
            }
            else
            {
                Fill(header, h);
                Split(r.Segs, header, 16, writable: false);
                ulong buf = Alloc((uint)(length + 1), 16);
                Fill(buf, new byte[length + 1]);
                Split(r.Segs, buf, length + 1, writable: true);
                r.DataAt = buf;
                r.StatusAt = buf + (ulong)length;
                r.Writable = length + 1;
            }
            r.Status = ok ? VirtioBlkRequest.StatusOk : VirtioBlkRequest.StatusIoErr;
            if (ok && length > 0)
            {
                r.Offset = (long)sector * 512;
                r.Length = length;
                taken.Add((r.Offset, r.Offset + length));
            }
            return r;
        }

        Fill(header, h);
        if (baseType is 10 or 12)   // discard, write zeroes: the OUT bit must be set, one 16-byte segment
        {
            bool zeroes = baseType == 12;
            int segments = _rng.Next(8) == 0 ? 2 : 1;
            var seg = new byte[16 * segments];
            uint count = (uint)(_rng.Next(5) == 0 ? _rng.Next(0, int.MaxValue) : _rng.Next(0, 129));
            ulong at = Sector(sectors, (int)Math.Min(count * 512L, int.MaxValue));
            uint flags = _rng.Next(6) switch { 0 => 1u, 1 => (uint)_rng.Next(), _ => 0u };
            BinaryPrimitives.WriteUInt64LittleEndian(seg, at);
            BinaryPrimitives.WriteUInt32LittleEndian(seg.AsSpan(8), count);
            BinaryPrimitives.WriteUInt32LittleEndian(seg.AsSpan(12), flags);
            ulong buf = Alloc((uint)(16 + seg.Length), 16);
            Fill(buf, h);
            Fill(buf + 16, seg);
            Split(r.Segs, buf, 16 + seg.Length, writable: false);
            r.StatusAt = Alloc(1);
            r.Segs.Add(new Seg(r.StatusAt, 1, true));
            r.Writable = 1;
            long start = (long)Math.Min(at, (ulong)sectors) * 512;
            long bytes = (long)count * 512;
            byte status;
            if ((type & VirtioBlkRequest.TypeOut) == 0 || segments > 1) status = VirtioBlkRequest.StatusUnsupp;
            else if (count > VirtioBlk.MaxDiscardSectors || !RangeOk(at, bytes)) status = VirtioBlkRequest.StatusIoErr;
            else if ((flags & ~1u) != 0 || (!zeroes && flags != 0)) status = VirtioBlkRequest.StatusUnsupp;
            else if (_readOnly) status = VirtioBlkRequest.StatusIoErr;
            else status = VirtioBlkRequest.StatusOk;
            if (status == VirtioBlkRequest.StatusOk && bytes > 0 && taken.Any(t => start < t.End && t.Start < start + bytes))
            {
                // Would overlap a request in flight: make it a no-op of zero sectors instead.
                BinaryPrimitives.WriteUInt32LittleEndian(seg.AsSpan(8), 0);
                Fill(buf + 16, seg);
                bytes = 0;
            }
            r.Status = status;
            r.What = $"{(zeroes ? "write-zeroes" : "discard")} of {count} sectors at {at}, flags {flags}, {segments} segments, type {type}";
            if (status == VirtioBlkRequest.StatusOk && zeroes && bytes > 0)
            {
                r.Offset = start;
                r.Length = bytes;
                r.Zeroes = true;
                taken.Add((start, start + bytes));
            }
            return r;
        }

        Split(r.Segs, header, 16, writable: false);
        int writable = baseType == VirtioBlkRequest.TypeGetId ? _rng.Next(1, 41) : _rng.Next(3) == 0 ? _rng.Next(1, 600) : 1;
        ulong w = Alloc((uint)writable, 16);
        Fill(w, new byte[writable]);
        Split(r.Segs, w, writable, writable: true);
        r.StatusAt = w + (ulong)writable - 1;
        r.Writable = writable;
        r.DataAt = w;
        r.GetId = baseType == VirtioBlkRequest.TypeGetId;
        r.Status = baseType is VirtioBlkRequest.TypeFlush or VirtioBlkRequest.TypeGetId ? VirtioBlkRequest.StatusOk : VirtioBlkRequest.StatusUnsupp;
        r.What = $"type {type} with {writable} writable bytes";
        return r;
    }

    /// <summary>A chain the device must refuse by going broken (QEMU's virtio_error cases).</summary>
    private Req Hostile(out string kind)
    {
        var r = new Req { Expect = Expect.Broken };
        ulong header = Alloc(16);
        Fill(header, new byte[16]);
        ulong data = Alloc(512, 16);
        ulong status = Alloc(1);
        r.Segs.Add(new Seg(header, 16, false));
        r.Segs.Add(new Seg(data, 512, true));
        r.Segs.Add(new Seg(status, 1, true));
        r.Indirect = _rng.Next(3) == 0;
        switch (_rng.Next(13))
        {
            case 0: kind = "loop"; r.Segs[^1] = r.Segs[^1] with { ExtraFlags = VirtQueue.DescNext, Next = 0 }; break;
            case 1: kind = "next out of range"; r.Segs[^1] = r.Segs[^1] with { ExtraFlags = VirtQueue.DescNext, Next = 60000 }; break;
            case 2: kind = "buffer outside RAM"; r.Segs[1] = r.Segs[1] with { Addr = BadAddresses[_rng.Next(BadAddresses.Length)] }; break;
            case 3: kind = "zero-length buffer"; r.Segs[1] = r.Segs[1] with { Len = 0 }; break;
            case 4: kind = "huge buffer"; r.Segs[1] = r.Segs[1] with { Len = 0xFFFF_FFF0u + (uint)_rng.Next(16) }; break;
            case 5: kind = "readable after writable"; r.Segs.Add(new Seg(Alloc(16), 16, false)); break;
            case 6: kind = "no writable buffer"; r.Segs.RemoveRange(1, 2); break;
            case 7: kind = "no readable buffer"; r.Segs.RemoveAt(0); break;
            case 8: kind = "header too short"; r.Segs[0] = r.Segs[0] with { Len = (uint)_rng.Next(1, 16) }; break;
            case 9: kind = "indirect flag inside a chain"; r.Indirect = _rng.Next(2) == 0; r.Segs[1] = r.Segs[1] with { ExtraFlags = VirtQueue.DescIndirect }; break;
            case 10: kind = "indirect table of a bad size"; r.Indirect = true; break;
            case 11: kind = "indirect table outside RAM"; r.Indirect = true; break;
            default:
                kind = "discard segment too short";
                Span<byte> h = stackalloc byte[16];
                BinaryPrimitives.WriteUInt32LittleEndian(h, VirtioBlkRequest.TypeDiscard);
                Fill(header, h);
                r.Segs.Insert(1, new Seg(Alloc(8), (uint)_rng.Next(1, 16), false));
                r.Segs.RemoveAt(2);   // the 512-byte data buffer
                break;
        }
        r.What = "hostile: " + kind + (r.Indirect ? " (indirect)" : "");
        return r;
    }

    /// <summary>Writes the chain's descriptors into the ring (or an indirect table); false when the ring is full.</summary>
    private bool Place(Req r, string? hostile)
    {
        if (!r.Indirect && _free.Count < r.Segs.Count) r.Indirect = true;
        if (_free.Count == 0) return false;
        if (r.Indirect)
        {
            r.Table = Alloc(16u * (uint)r.Segs.Count, 16);
            for (int i = 0; i < r.Segs.Count; i++)
            {
                var s = r.Segs[i];
                ushort flags = (ushort)((s.Writable ? VirtQueue.DescWrite : 0) | (i + 1 < r.Segs.Count ? VirtQueue.DescNext : 0) | s.ExtraFlags);
                _d.WriteDescriptor(r.Table, i, s.Addr, s.Len, flags, s.Next ?? (ushort)(i + 1));
            }
            r.Head = _free.Pop();
            r.Descs.Add(r.Head);
            uint tableLength = 16u * (uint)r.Segs.Count;
            ulong tableAt = r.Table;
            if (hostile == "indirect table of a bad size")
                tableLength = new uint[] { 0, 15, 17, 16 * 1025, 16 * 2000 }[_rng.Next(5)];
            if (hostile == "indirect table outside RAM") tableAt = BadAddresses[_rng.Next(BadAddresses.Length)];
            _d.WriteDescriptor(_d.Desc, r.Head, tableAt, tableLength, VirtQueue.DescIndirect, 0);
            return true;
        }
        var ids = new ushort[r.Segs.Count];
        for (int i = 0; i < ids.Length; i++) ids[i] = _free.Pop();
        for (int i = 0; i < ids.Length; i++)
        {
            var s = r.Segs[i];
            ushort flags = (ushort)((s.Writable ? VirtQueue.DescWrite : 0) | (i + 1 < ids.Length ? VirtQueue.DescNext : 0) | s.ExtraFlags);
            ushort next = s.Next is { } n ? (n == 0 ? ids[0] : n) : i + 1 < ids.Length ? ids[i + 1] : (ushort)0;
            _d.WriteDescriptor(_d.Desc, ids[i], s.Addr, s.Len, flags, next);
        }
        r.Head = ids[0];
        r.Descs.AddRange(ids);
        return true;
    }

    private void Batch(bool midFlightReset)
    {
        if (_needInit || _rng.Next(50) == 0) Init();
        _bump = DataBase;
        var taken = new List<(long, long)>();
        var reqs = new List<Req>();
        int count = _rng.Next(1, 6);
        // At most one hostile entry per batch: a bad chain, a head out of range, or an avail index jump.
        int hostileAt = !midFlightReset && _rng.Next(100) < 30 ? _rng.Next(count) : -1;
        int hostileKind = hostileAt < 0 ? -1 : _rng.Next(14);
        bool availJump = hostileKind == 0, badHead = hostileKind == 1;
        for (int i = 0; i < count; i++)
        {
            if (i == hostileAt && badHead)
            {
                reqs.Add(new Req { Expect = Expect.Broken, What = "hostile: head out of range", BadHead = true, Head = (ushort)(_d.QueueSize + _rng.Next(0, 1000)) });
                continue;
            }
            string? kind = null;
            var r = i == hostileAt && !availJump ? Hostile(out kind) : WellFormed(taken);
            if (!Place(r, kind)) break;
            reqs.Add(r);
        }
        // Everything after the first chain that breaks the device is never looked at.
        bool broken = false;
        foreach (var r in reqs)
        {
            if (broken) r.Expect = Expect.NotProcessed;
            else if (r.Expect == Expect.Broken) broken = true;
        }
        if (availJump)
        {
            foreach (var r in reqs) r.Expect = Expect.NotProcessed;
            broken = true;
        }
        _stats.Requests += reqs.Count;
        if (broken) _stats.Hostile++;

        ushort usedBefore = _d.UsedIdx;
        foreach (var r in reqs) _d.Publish(r.Head);
        if (availJump) _d.SetAvailIdx((ushort)(_d.AvailIdx + _d.QueueSize + 1 + _rng.Next(0, 1000)));
        if (_rng.Next(10) == 0) _d.Notify(_rng.Next(1, 70000) & 0xFFFF);   // a queue that does not exist: ignored
        _d.Notify();

        if (midFlightReset)
        {
            MidFlightReset(reqs, usedBefore);
            return;
        }
        var expected = reqs.Where(r => r.Expect == Expect.Complete).ToList();
        var byHead = reqs.Where(r => !r.BadHead).ToDictionary(r => r.Head);
        bool ok = _rig.Loop.PumpUntil(() =>
        {
            Reap(byHead);
            return broken ? _rig.Blk.Engine.InFlight == 0 : expected.All(r => r.Done);
        }, _o.BatchTimeout);
        if (!ok)
        {
            Fail($"hang: {expected.Count(r => !r.Done)} of {expected.Count} requests never completed ({string.Join("; ", expected.Where(r => !r.Done).Select(r => r.What))}), {_rig.Blk.Engine.InFlight} in flight");
            return;
        }
        Reap(byHead);
        if (_rig.Blk.Broken != broken)
        {
            Fail(broken ? $"the device did not go broken on {string.Join("; ", reqs.Where(r => r.Expect == Expect.Broken || availJump).Select(r => r.What).DefaultIfEmpty("an avail index jump"))}"
                        : $"the device went broken ({_rig.Blk.BrokenReason}) on well-formed requests: {string.Join("; ", reqs.Select(r => r.What))}");
            return;
        }
        foreach (var r in reqs)
        {
            if (r.Expect == Expect.Complete)
            {
                // Before the breaking chain, a request completes; if the device broke while it was in
                // flight it is dropped, as QEMU drops it.
                if (!r.Done && !broken) { Fail($"{r.What}: never completed"); return; }
                if (r.Done && !Verify(r)) return;
                if (!r.Done && !Dropped(r)) return;
            }
            else if (r.Done)
            {
                Fail($"{r.What}: completed, but it comes after a chain that breaks the device");
                return;
            }
        }
        if (broken)
        {
            _stats.BrokenStates++;
            if (_d.Modern)
            {
                if ((_d.Status & MiniVirtioDriver.NeedsReset) == 0) { Fail("broken modern device without NEEDS_RESET"); return; }
                if ((_d.ReadIsr() & 2) == 0) { Fail("broken modern device without a configuration interrupt"); return; }
            }
            _needInit = true;
        }
    }

    private void Reap(Dictionary<ushort, Req> byHead)
    {
        foreach (var (id, len) in _d.ReapUsed())
        {
            if (!byHead.TryGetValue(id, out var r) || r.Done)
            {
                Fail($"used ring entry for head {id}, which is not a request in flight");
                continue;
            }
            r.Done = true;
            r.UsedLength = len;
            foreach (var x in r.Descs) _free.Push(x);
        }
    }

    /// <summary>Checks a completed request against the oracle and applies it to the model.</summary>
    private bool Verify(Req r)
    {
        _stats.Completed++;
        byte status = Read(r.StatusAt, 1)[0];
        switch (status)
        {
            case VirtioBlkRequest.StatusOk: _stats.Ok++; break;
            case VirtioBlkRequest.StatusIoErr: _stats.IoErr++; break;
            case VirtioBlkRequest.StatusUnsupp: _stats.Unsupp++; break;
        }
        if (status != r.Status) { Fail($"{r.What}: status {status}, expected {r.Status}"); return false; }
        if (r.UsedLength != r.Writable) { Fail($"{r.What}: used length {r.UsedLength}, expected {r.Writable}"); return false; }
        if (status != VirtioBlkRequest.StatusOk) return true;
        if (r.GetId)
        {
            int n = (int)Math.Min(20, r.Writable - 1);
            var id = Read(r.DataAt, n);
            var want = new byte[20];
            System.Text.Encoding.ASCII.GetBytes(Serial, want);
            if (!id.AsSpan().SequenceEqual(want.AsSpan(0, n))) { Fail($"{r.What}: GET_ID returned {Convert.ToHexString(id)}"); return false; }
            return true;
        }
        if (r.Offset < 0) return true;
        if (r.Payload is not null) r.Payload.CopyTo(_model, r.Offset);
        else if (r.Zeroes) Array.Clear(_model, (int)r.Offset, (int)r.Length);
        else
        {
            var got = Read(r.DataAt, (int)r.Length);
            _stats.BytesVerified += got.Length;
            int diff = got.AsSpan().CommonPrefixLength(_model.AsSpan((int)r.Offset, (int)r.Length));
            if (diff < got.Length) { Fail($"{r.What}: byte {diff} of the data read differs from the disk"); return false; }
        }
        return true;
    }

    /// <summary>
    /// A request that finished on the host after the device went broken: not published (QEMU publishes
    /// nothing on a broken device), but its status byte is written and a write reached the disk.
    /// </summary>
    private bool Dropped(Req r)
    {
        byte status = Read(r.StatusAt, 1)[0];
        if (status != r.Status) { Fail($"{r.What}, finished after the device broke: status {status}, expected {r.Status}"); return false; }
        if (status == VirtioBlkRequest.StatusOk && r.Offset >= 0 && !r.GetId)
        {
            if (r.Payload is not null) r.Payload.CopyTo(_model, r.Offset);
            else if (r.Zeroes) Array.Clear(_model, (int)r.Offset, (int)r.Length);
        }
        return true;
    }

    /// <summary>
    /// A reset while requests are in flight: they finish on the host but nothing of theirs may reach guest
    /// memory afterwards (their buffers keep a canary) and the device works again after a new handshake.
    /// </summary>
    private void MidFlightReset(List<Req> reqs, ushort usedBefore)
    {
        _stats.MidFlightResets++;
        _d.Status = 0;
        var canaries = new List<(ulong At, byte[] Bytes)>();
        foreach (var r in reqs)
            foreach (var s in r.Segs.Where(s => s.Writable))
            {
                var canary = new byte[s.Len];
                Array.Fill(canary, (byte)0xC5);
                Fill(s.Addr, canary);
                canaries.Add((s.Addr, canary));
            }
        ulong usedRing = _d.Used;
        var usedBytes = Read(usedRing, 4 + 8 * _d.QueueSize);
        if (!_rig.Loop.PumpUntil(() => _rig.Blk.Engine.InFlight == 0, _o.BatchTimeout))
        {
            Fail($"hang: {_rig.Blk.Engine.InFlight} requests still in flight after a reset");
            return;
        }
        foreach (var (at, bytes) in canaries)
            if (!Read(at, bytes.Length).AsSpan().SequenceEqual(bytes)) { Fail($"a request dropped by a reset wrote guest memory at 0x{at:x} afterwards"); return; }
        if (!Read(usedRing, usedBytes.Length).AsSpan().SequenceEqual(usedBytes)) { Fail("the used ring changed after a reset"); return; }
        // Writes taken before the reset were finished on the host: the disk holds them.
        foreach (var r in reqs.Where(r => r.Status == VirtioBlkRequest.StatusOk && r.Offset >= 0 && !r.GetId))
        {
            if (r.Payload is not null) r.Payload.CopyTo(_model, r.Offset);
            else if (r.Zeroes) Array.Clear(_model, (int)r.Offset, (int)r.Length);
        }
        _needInit = true;
    }

    /// <summary>Random writes to the transport's registers, then a fresh handshake: nothing may throw, and the disk keeps working.</summary>
    private void Scribble()
    {
        _stats.Scribbles++;
        if (_needInit) Init();
        int n = _rng.Next(1, 12);
        for (int i = 0; i < n; i++)
        {
            int size = new[] { 1, 2, 4 }[_rng.Next(3)];
            uint value = _rng.Next(3) switch { 0 => (uint)_rng.Next(), 1 => (uint)_rng.Next(0, 4), _ => new uint[] { 0, 0xFFFF, 0xFFFF_FFFF, 0x8000, 1 }[_rng.Next(5)] };
            switch (_rng.Next(7))
            {
                case 0: _d.Common(_rng.Next(0, 64) & ~(size - 1), size, value); break;
                case 1: _d.Legacy(_rng.Next(0, 64) & ~(size - 1), size, value); break;
                case 2: _rig.Memory.Write8(_d.MmioBase + 0x2000 + (uint)_rng.Next(0, 64), (byte)value); break;     // device configuration
                case 3: _d.ReadIsr(); break;
                case 4: _d.Notify(_rng.Next(0, 3)); break;
                case 5: _d.Common(_rng.Next(0, 64) & ~(size - 1), size); break;
                default: _rig.Memory.Write16(_d.MmioBase + 0x3000 + (uint)_rng.Next(0, 256) * 2, (ushort)value); break;   // notify region
            }
        }
        // A scribbled queue address may have made the device run stale requests: whatever they wrote is
        // the disk now, so the model starts again from the disk itself.
        if (!_rig.Loop.PumpUntil(() => _rig.Blk.Engine.InFlight == 0, _o.BatchTimeout))
        {
            Fail("hang after register scribbles");
            return;
        }
        _model = ReadBackend();
        _needInit = true;
    }

    /// <summary>After the session: a fresh handshake reads the whole disk back through the rings; the image checks clean.</summary>
    private void FinalCheck()
    {
        Init();
        for (long pos = 0; pos < DiskSize; pos += 64 * 1024)
        {
            _bump = DataBase;
            var taken = new List<(long, long)>();
            var r = new Req { What = $"final read at {pos}", Status = VirtioBlkRequest.StatusOk, Offset = pos, Length = 64 * 1024 };
            ulong header = Alloc(16);
            var h = new byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(8), (ulong)pos / 512);
            Fill(header, h);
            r.Segs.Add(new Seg(header, 16, false));
            ulong buf = Alloc(64 * 1024 + 1, 16);
            Split(r.Segs, buf, 64 * 1024 + 1, writable: true);
            r.DataAt = buf;
            r.StatusAt = buf + 64 * 1024;
            r.Writable = 64 * 1024 + 1;
            Place(r, null);
            _d.Publish(r.Head);
            _d.Notify();
            var byHead = new Dictionary<ushort, Req> { [r.Head] = r };
            if (!_rig.Loop.PumpUntil(() => { Reap(byHead); return r.Done; }, _o.BatchTimeout)) { Fail("hang in the final read"); return; }
            if (!Verify(r)) return;
        }
        if (_disk is QedImage q)
        {
            var check = q.CheckAsync(repair: false).GetAwaiter().GetResult();
            if (check.Corruptions != 0 || check.CheckErrors != 0) Fail($"the image has {check.Corruptions} corruptions, {check.CheckErrors} check errors");
        }
        _disk.DisposeAsync().AsTask().GetAwaiter().GetResult();
        CheckWarnings();
    }
}
