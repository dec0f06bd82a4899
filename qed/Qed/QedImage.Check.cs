using System.Buffers.Binary;

namespace Qed;

/// <summary>The outcome of a consistency check, with qemu-img check's counters.</summary>
public sealed class CheckResult
{
    /// <summary>Problems that can hurt data: invalid offsets, clusters referenced twice, overlapping tables.</summary>
    public long Corruptions { get; set; }
    /// <summary>Clusters no table references: wasted space, no harm to data.</summary>
    public long Leaks { get; set; }
    /// <summary>I/O errors that stopped parts of the check.</summary>
    public long CheckErrors { get; set; }
    public long CorruptionsFixed { get; set; }
    public long LeaksFixed { get; set; }
    /// <summary>Clusters the guest-visible size spans.</summary>
    public long TotalClusters { get; set; }
    public long AllocatedClusters { get; set; }
    /// <summary>Allocated entries not contiguous with the previous allocated entry of the same table.</summary>
    public long FragmentedClusters { get; set; }
}

/// <summary>
/// Consistency check and repair (QEMU block/qed-check.c), counting as QEMU counts so the reports
/// match, but without QEMU's cluster-count bug (it divides by cluster_size − 1, which reports leaks
/// that do not exist once the file is large). Repair fixes what QEMU fixes (invalid table and cluster
/// offsets are reset to unallocated) and also gives back leaked clusters at the end of the file.
/// </summary>
public sealed partial class QedImage
{
    /// <summary>
    /// Checks the image; with <paramref name="repair"/>, fixes invalid offsets, truncates leaked
    /// clusters at the end of the file and, when nothing is left broken, clears the need-check bit.
    /// No other request may be in flight.
    /// </summary>
    public async Task<CheckResult> CheckAsync(bool repair, CancellationToken cancellationToken = default)
    {
        if (repair) CheckWritable();
        await _writebackLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        await AcquireAllocationAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await CheckCoreAsync(repair, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ReleaseAllocation();
            _writebackLock.Release();
        }
    }

    private async Task<CheckResult> CheckCoreAsync(bool fix, CancellationToken ct)
    {
        // The disk must hold what memory holds before it is checked.
        if (!IsReadOnly && _backing is null) await WriteBackAsync(holdingLocks: true, ct).ConfigureAwait(false);
        else await DrainCommitsAsync().ConfigureAwait(false);
        var result = new CheckResult
        {
            TotalClusters = (long)((_header.ImageSize + (ulong)_g.ClusterSize - 1) / (ulong)_g.ClusterSize),
        };
        long fileSize = _fileEnd;
        long nclusters = fileSize >> _g.ClusterBits;
        var used = new ulong[(nclusters + 63) / 64];

        bool SetUsed(long offset, long count)
        {
            long c = offset >> _g.ClusterBits;
            long dups = 0;
            for (long i = 0; i < count; i++, c++)
            {
                if (c >= nclusters) break;
                ulong bit = 1UL << (int)(c & 63);
                if ((used[c >> 6] & bit) != 0) dups++;
                used[c >> 6] |= bit;
            }
            result.Corruptions += dups;
            return dups == 0;
        }

        SetUsed((long)_header.L1TableOffset, _g.TableSize);
        bool l1Fixed = false, tablesFixed = false;
        var table = new byte[_g.TableBytes];
        for (int i = 0; i < _l1.Length; i++)
        {
            ulong offset = _l1[i];
            if (offset == 0) continue;
            if (!_g.IsTableOffsetValid(offset, fileSize))
            {
                if (fix)
                {
                    _l1[i] = 0;
                    result.CorruptionsFixed++;
                    l1Fixed = true;
                }
                else result.Corruptions++;
                continue;
            }
            if (!SetUsed((long)offset, _g.TableSize)) continue;   // overlaps something: skip the table

            try
            {
                await _file.ReadAsync((long)offset, table, ct).ConfigureAwait(false);
            }
            catch (BlockIOException)
            {
                result.CheckErrors++;
                continue;
            }
            if (CheckTable(table, fix, fileSize, result, SetUsed) > 0 && fix)
            {
                try
                {
                    _counters.Increment(Counter.L2Writes);
                    await _file.WriteAsync((long)offset, table, ct).ConfigureAwait(false);
                    tablesFixed = true;
                }
                catch (BlockIOException)
                {
                    result.CheckErrors++;
                }
            }
        }
        if (l1Fixed)
        {
            try { await WriteWholeL1Async(ct).ConfigureAwait(false); }
            catch (BlockIOException) { result.CheckErrors++; }
        }
        if (l1Fixed || tablesFixed)
        {
            _cache.Clear();
            RebuildMetadataMap();
        }

        if (result.CheckErrors > 0) return result;
        long lastUsed = -1;
        for (long c = _g.HeaderAreaBytes >> _g.ClusterBits; c < nclusters; c++)
        {
            if ((used[c >> 6] & (1UL << (int)(c & 63))) == 0) result.Leaks++;
            else lastUsed = c;
        }
        if (!fix || result.Corruptions > 0) return result;

        // Leaked clusters at the end of the file (left by a power cut between reserving clusters and
        // writing their tables) can be given back safely: nothing valid points there.
        long keep = Math.Max(lastUsed + 1, (long)((_header.L1TableOffset + (ulong)_g.TableBytes) >> _g.ClusterBits));
        if (keep < nclusters)
        {
            await _file.SetLengthAsync(keep << _g.ClusterBits, ct).ConfigureAwait(false);
            Volatile.Write(ref _fileEnd, keep << _g.ClusterBits);
            _extendedTo = _fileEnd;
            result.LeaksFixed = nclusters - keep;
            result.Leaks -= result.LeaksFixed;
        }
        await _file.FlushAsync(ct).ConfigureAwait(false);
        if (_header.NeedsCheck)
        {
            _header.Features &= ~QedFeatures.NeedCheck;
            _counters.Increment(Counter.NeedCheckClears);
            await WriteHeaderAsync(ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
        }
        return result;
    }

    /// <summary>Checks one L2 table's entries (QEMU's qed_check_l2_table); returns how many were invalid.</summary>
    private int CheckTable(byte[] table, bool fix, long fileSize, CheckResult result, Func<long, long, bool> setUsed)
    {
        int invalid = 0;
        ulong last = 0;
        for (int i = 0; i < _g.TableEntries; i++)
        {
            var slot = table.AsSpan(i * 8, 8);
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(slot);
            if (offset <= 1) continue;
            result.AllocatedClusters++;
            if (last != 0 && last + (ulong)_g.ClusterSize != offset) result.FragmentedClusters++;
            last = offset;
            if (!_g.IsClusterOffsetValid(offset, fileSize))
            {
                if (fix)
                {
                    slot.Clear();
                    result.CorruptionsFixed++;
                }
                else result.Corruptions++;
                invalid++;
                continue;
            }
            setUsed((long)offset, 1);
        }
        return invalid;
    }
}
