using System.Buffers.Binary;

namespace Qed.Tests.PowerCut;

/// <summary>
/// What the guest wrote, sector by sector, and when, measured in positions of the file's operation log;
/// from it, what each sector may hold after a power cut at any log position.
/// </summary>
/// <remarks>
/// Every written sector carries a stamp naming its write (a version number) and its guest sector, so a
/// sector read back can only match the write that made it; data from another sector, another cluster or
/// a stale table reads as foreign. After a cut at log position c, a sector may hold the last version
/// the guest had completed before issuing a flush that completed before c, or any version issued
/// before c after that one; with no such flush also its initial content. Zero writes are versions
/// whose content is zeros.
/// </remarks>
public sealed class GuestDiskModel
{
    public const int Sector = 512;
    /// <summary>The stamp version of the backing file's sectors.</summary>
    public const long BackingVersion = -1;

    private sealed class Version
    {
        public long Number;
        public bool Zeros;
        /// <summary>Log length when the guest issued the write: none of its bytes can be in the file before.</summary>
        public int IssuedAt;
        /// <summary>Position in the guest's own order of events when the write completed.</summary>
        public long CompletedSeq = long.MaxValue;
    }

    /// <summary>The guest's order of events (issues and completions), finer than log positions.</summary>
    private long _seq;

    private readonly List<Version>[] _sectors;
    private readonly List<(int CompletedAt, int[] Counts)> _flushes = new();
    private readonly Func<int, byte[]?> _initial;
    private long _nextVersion;
    private int _sectorCount;

    /// <param name="sectors">Sectors the model covers (the largest size the disk may reach).</param>
    /// <param name="initialSectors">Guest-visible sectors at the start (the disk may grow later).</param>
    /// <param name="initial">A sector's content before any write (null: zeros).</param>
    public GuestDiskModel(int sectors, int initialSectors, Func<int, byte[]?> initial, long firstVersion = 1)
    {
        _sectors = new List<Version>[sectors];
        for (int i = 0; i < sectors; i++) _sectors[i] = new List<Version>();
        _sectorCount = initialSectors;
        _initial = initial;
        _nextVersion = firstVersion;
    }

    public int Sectors => _sectorCount;
    public int Capacity => _sectors.Length;
    public long NextVersion => _nextVersion;

    /// <summary>The sizes (in sectors) the disk had, with the log position where each change completed.</summary>
    private readonly List<(int IssuedAt, int CompletedAt, int Sectors)> _sizes = new();

    public static void Stamp(Span<byte> sector, long version, long guestSector)
    {
        BinaryPrimitives.WriteInt64LittleEndian(sector, version);
        BinaryPrimitives.WriteInt64LittleEndian(sector[8..], guestSector);
        sector[16..].Fill(Fill(version, guestSector));
    }

    private static byte Fill(long version, long guestSector) => (byte)(version * 31 + guestSector * 7 + 1);

    /// <summary>The version a sector's bytes carry: a stamp for this sector, 0 for all zeros, null for anything else.</summary>
    public static long? Identify(ReadOnlySpan<byte> sector, long guestSector)
    {
        if (sector.IndexOfAnyExcept((byte)0) < 0) return 0;
        long version = BinaryPrimitives.ReadInt64LittleEndian(sector);
        if (BinaryPrimitives.ReadInt64LittleEndian(sector[8..]) != guestSector) return null;
        if (sector[16..].IndexOfAnyExcept(Fill(version, guestSector)) >= 0) return null;
        return version == 0 ? null : version;
    }

    /// <summary>Records a data write of <paramref name="count"/> sectors issued at log position <paramref name="issuedAt"/>; fills <paramref name="data"/>.</summary>
    public object BeginWrite(int first, int count, Span<byte> data, int issuedAt)
    {
        var v = new Version { Number = _nextVersion++, IssuedAt = issuedAt };
        for (int s = 0; s < count; s++)
        {
            Stamp(data.Slice(s * Sector, Sector), v.Number, first + s);
            _sectors[first + s].Add(v);
        }
        return v;
    }

    /// <summary>Records a write-zeroes of <paramref name="count"/> sectors.</summary>
    public object BeginZeroes(int first, int count, int issuedAt)
    {
        var v = new Version { Number = _nextVersion++, Zeros = true, IssuedAt = issuedAt };
        for (int s = 0; s < count; s++) _sectors[first + s].Add(v);
        return v;
    }

    /// <summary>The write has completed (the guest saw its acknowledgement).</summary>
    public void Complete(object write)
    {
        lock (this) ((Version)write).CompletedSeq = ++_seq;
    }

    /// <summary>
    /// A guest flush issued now covers every write completed by now. Returns a token for
    /// <see cref="FlushCompleted"/>.
    /// </summary>
    public object BeginFlush()
    {
        long now;
        lock (this) now = ++_seq;
        var counts = new int[_sectors.Length];
        for (int s = 0; s < counts.Length; s++)
        {
            var list = _sectors[s];
            int n = list.Count;
            // Writes to one sector complete in issue order (requests in flight together never overlap).
            while (n > 0 && list[n - 1].CompletedSeq > now) n--;
            counts[s] = n;
        }
        return new FlushToken(counts);
    }

    private sealed class FlushToken(int[] counts)
    {
        public readonly int[] Counts = counts;
    }

    /// <summary>The flush completed when the log had <paramref name="completedAt"/> entries.</summary>
    public void FlushCompleted(object flush, int completedAt)
    {
        lock (_flushes) _flushes.Add((completedAt, ((FlushToken)flush).Counts));
    }

    /// <summary>A resize to <paramref name="sectors"/>; it is durable once it completed (the engine flushes the header).</summary>
    public void Resize(int sectors, int issuedAt, int completedAt)
    {
        _sizes.Add((issuedAt, completedAt, sectors));
        _sectorCount = sectors;
    }

    /// <summary>The guest-visible sizes (in sectors) a cut at <paramref name="cut"/> may leave.</summary>
    public IEnumerable<int> SizesAfterCut(int cut, int initialSectors)
    {
        int durable = initialSectors;
        var possible = new List<int>();
        foreach (var (issued, completed, sectors) in _sizes)
        {
            if (completed <= cut) { durable = sectors; possible.Clear(); }
            else if (issued < cut) possible.Add(sectors);
        }
        possible.Insert(0, durable);
        return possible.Distinct();
    }

    /// <summary>
    /// Checks the disk's content after a cut at <paramref name="cut"/>; returns null when every sector
    /// holds what it may, else a description of the first sector that does not.
    /// </summary>
    public string? Verify(ReadOnlySpan<byte> disk, int cut)
    {
        int[]? flushed = null;
        foreach (var f in _flushes)
            if (f.CompletedAt <= cut) flushed = f.Counts;
        int sectors = (int)Math.Min(disk.Length / Sector, _sectors.Length);
        for (int s = 0; s < sectors; s++)
        {
            var sector = disk.Slice(s * Sector, Sector);
            if (!MayHold(s, sector, flushed?[s] ?? 0, cut, out string? why)) return why;
        }
        return null;
    }

    /// <summary>After a clean shutdown: every sector holds exactly its last version.</summary>
    public string? VerifyExact(ReadOnlySpan<byte> disk)
    {
        int sectors = (int)Math.Min(disk.Length / Sector, _sectors.Length);
        for (int s = 0; s < sectors; s++)
        {
            var list = _sectors[s];
            if (!MayHold(s, disk.Slice(s * Sector, Sector), list.Count, int.MaxValue, out string? why)) return why;
        }
        return null;
    }

    private bool MayHold(int s, ReadOnlySpan<byte> sector, int flushedCount, int cut, out string? why)
    {
        var list = _sectors[s];
        why = null;
        bool initialAllowed = flushedCount == 0;
        if (initialAllowed)
        {
            var initial = _initial(s);
            if (initial is null ? sector.IndexOfAnyExcept((byte)0) < 0 : sector.SequenceEqual(initial)) return true;
        }
        long? found = Identify(sector, s);
        if (found is { } v)
        {
            for (int k = Math.Max(0, flushedCount - 1); k < list.Count; k++)
            {
                var version = list[k];
                if (version.IssuedAt >= cut) break;
                if (version.Zeros ? v == 0 : version.Number == v) return true;
            }
        }
        string holds = found switch { null => "foreign bytes", 0 => "zeros", long n => "version " + n };
        string history = string.Join(",", list.Select(x => (x.Zeros ? "z" : "") + x.Number + (x.IssuedAt >= cut ? "(after cut)" : "")));
        why = $"sector {s} holds {holds}; versions written: [{history}], {flushedCount} covered by a completed flush" +
              (initialAllowed ? ", initial content allowed" : "");
        return false;
    }
}
