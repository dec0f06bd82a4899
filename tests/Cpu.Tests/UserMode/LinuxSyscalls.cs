using System.Buffers.Binary;
using System.Text;
using Emulator.Cpu;

namespace Cpu.Tests.UserMode;

/// <summary>
/// The Linux i386 system calls a static busybox uses (numbers from arch/x86/entry/syscalls/syscall_32.tbl):
/// files below the sandbox root, standard streams, brk and anonymous mmap, TLS through set_thread_area, and
/// the identity, time and signal calls answered with fixed values so that runs are reproducible. Unknown
/// calls return -ENOSYS and are recorded.
/// </summary>
internal sealed class LinuxSyscalls
{
    private const int ENOENT = 2, EBADF = 9, ENOMEM = 12, EFAULT = 14, EEXIST = 17, ENOTDIR = 20, EINVAL = 22,
        ENOTTY = 25, ESPIPE = 29, ERANGE = 34, ENOSYS = 38;
    private const uint FixedTime = 1_700_000_000;

    private sealed class OpenFile
    {
        public required MemoryStream Data;
        public string? HostPath;              // written back on close when writable
        public bool Writable, Readable = true, IsDirectory;
        public int Kind;                       // 0 file, 1 stdin, 2 stdout, 3 stderr
    }

    private readonly LinuxProcess proc;
    private readonly UserModeMachine m;
    private readonly string root;
    private readonly Dictionary<int, OpenFile> fds = new();
    private readonly uint brkStart;
    private uint brk, mmapTop;
    private int nextRandom;

    public readonly SortedSet<int> Unknown = new();
    public long Count { get; private set; }

    public LinuxSyscalls(LinuxProcess proc, string root, byte[] stdin, uint brk, uint mmapTop)
    {
        this.proc = proc;
        m = proc.Machine;
        this.root = Path.GetFullPath(root);
        brkStart = this.brk = brk;
        this.mmapTop = mmapTop;
        fds[0] = new OpenFile { Data = new MemoryStream(stdin, writable: false), Kind = 1 };
        fds[1] = new OpenFile { Data = proc.Stdout, Writable = true, Readable = false, Kind = 2 };
        fds[2] = new OpenFile { Data = proc.Stderr, Writable = true, Readable = false, Kind = 3 };
    }

    private uint Reg(Register32 r) => m.Cpu.GetRegister(r);

    public void Dispatch()
    {
        Count++;
        uint nr = Reg(Register32.Eax);
        uint a = Reg(Register32.Ebx), b = Reg(Register32.Ecx), c = Reg(Register32.Edx);
        uint d = Reg(Register32.Esi), e = Reg(Register32.Edi), f = Reg(Register32.Ebp);
        long r = nr switch
        {
            1 or 252 => Exit((int)a),
            3 => Read((int)a, b, c),
            4 => Write((int)a, b, c),
            5 => Open(a, b),
            6 => Close((int)a),
            10 => -ENOENT,
            13 => Time(a),
            19 => Seek((int)a, (int)b, (int)c),
            20 or 224 => 42,
            24 or 47 or 49 or 50 or 199 or 200 or 201 or 202 => 0,
            33 => Access(a),
            41 => Dup((int)a, -1),
            45 => Brk(a),
            54 => Ioctl((int)a, b, c),
            55 or 221 => Fcntl((int)a, b, c),
            63 => Dup((int)a, (int)b),
            64 => 1,
            78 => GetTimeOfDay(a),
            85 => -EINVAL,
            90 => OldMmap(a),
            91 => Munmap(a, b),
            116 => SysInfo(a),
            122 => Uname(a),
            125 => 0,
            140 => LongSeek((int)a, b, c, d, e),
            145 => Readv((int)a, b, c),
            146 => Writev((int)a, b, c),
            162 => 0,
            163 => Mremap(a, b, c, d),
            172 => 0,
            174 or 175 => 0,
            183 => Getcwd(a, b),
            191 => Rlimit(b),
            192 => Mmap(a, b, c, d, (int)e, f),
            195 or 196 => Stat(a, b),
            197 => Fstat((int)a, b),
            243 => SetThreadArea(a),
            258 => 42,
            265 or 403 => ClockGetTime(b, nr == 403),
            295 => OpenAt((int)a, b, c),
            300 => FstatAt((int)a, b, c, d),
            305 => -EINVAL,
            307 or 439 => AccessAt(b),
            311 => 0,
            330 => Dup((int)a, (int)b),
            340 => Prlimit(c, d),
            355 => GetRandom(a, b),
            383 => Statx((int)a, b, c, e),
            386 => -ENOSYS,
            _ => Unimplemented(nr),
        };
        m.Cpu.SetRegister(Register32.Eax, (uint)(int)r);
    }

    private long Unimplemented(uint nr)
    {
        Unknown.Add((int)nr);
        return -ENOSYS;
    }

    private long Exit(int code)
    {
        foreach (var fd in fds.Keys.ToArray()) Close(fd);
        proc.ExitCode = code & 0xFF;
        return 0;
    }

    // ---- files ----------------------------------------------------------------------------------------

    private string? HostPath(uint pathPtr)
    {
        string? p = m.ReadString(pathPtr);
        if (p == null) return null;
        var parts = new List<string>();
        foreach (var part in p.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(part);
        }
        return Path.Combine(new[] { root }.Concat(parts).ToArray());
    }

    private int NewFd()
    {
        int fd = 0;
        while (fds.ContainsKey(fd)) fd++;
        return fd;
    }

    private long Open(uint pathPtr, uint flags) => OpenAt(-100, pathPtr, flags);

    private long OpenAt(int dirfd, uint pathPtr, uint flags)
    {
        string? host = HostPath(pathPtr);
        if (host == null) return -EFAULT;
        int acc = (int)(flags & 3);
        bool create = (flags & 0x40) != 0, trunc = (flags & 0x200) != 0, excl = (flags & 0x80) != 0;
        if (Directory.Exists(host))
        {
            int dfd = NewFd();
            fds[dfd] = new OpenFile { Data = new MemoryStream(), IsDirectory = true };
            return dfd;
        }
        if ((flags & 0x10000) != 0) return -ENOTDIR;
        bool exists = File.Exists(host);
        if (!exists && !create) return -ENOENT;
        if (exists && create && excl) return -EEXIST;
        var data = new MemoryStream();
        if (exists && !trunc) { var bytes = File.ReadAllBytes(host); data.Write(bytes); data.Position = 0; }
        int fd = NewFd();
        fds[fd] = new OpenFile
        {
            Data = data, HostPath = host, Writable = acc != 0, Readable = acc != 1,
        };
        if ((flags & 0x400) != 0) data.Position = data.Length;
        return fd;
    }

    private long Close(int fd)
    {
        if (!fds.Remove(fd, out var f)) return -EBADF;
        if (f.Writable && f.HostPath != null) File.WriteAllBytes(f.HostPath, f.Data.ToArray());
        return 0;
    }

    private long Read(int fd, uint buf, uint count)
    {
        if (!fds.TryGetValue(fd, out var f) || !f.Readable || f.IsDirectory) return -EBADF;
        var tmp = new byte[Math.Min(count, 1u << 20)];
        int n = f.Data.Read(tmp, 0, tmp.Length);
        if (!m.WriteUser(buf, tmp.AsSpan(0, n))) return -EFAULT;
        return n;
    }

    private long Write(int fd, uint buf, uint count)
    {
        if (!fds.TryGetValue(fd, out var f) || !f.Writable) return -EBADF;
        var tmp = new byte[count];
        if (!m.ReadUser(buf, tmp)) return -EFAULT;
        f.Data.Write(tmp);
        return count;
    }

    private long Readv(int fd, uint iov, uint count)
    {
        long total = 0;
        for (uint k = 0; k < count; k++)
        {
            if (!m.ReadU32(iov + k * 8, out uint b) || !m.ReadU32(iov + k * 8 + 4, out uint len)) return -EFAULT;
            long n = Read(fd, b, len);
            if (n < 0) return total > 0 ? total : n;
            total += n;
            if (n < len) break;
        }
        return total;
    }

    private long Writev(int fd, uint iov, uint count)
    {
        long total = 0;
        for (uint k = 0; k < count; k++)
        {
            if (!m.ReadU32(iov + k * 8, out uint b) || !m.ReadU32(iov + k * 8 + 4, out uint len)) return -EFAULT;
            long n = Write(fd, b, len);
            if (n < 0) return total > 0 ? total : n;
            total += n;
        }
        return total;
    }

    private long Seek(int fd, int offset, int whence)
    {
        if (!fds.TryGetValue(fd, out var f)) return -EBADF;
        if (f.Kind != 0) return -ESPIPE;
        long pos = whence switch { 0 => offset, 1 => f.Data.Position + offset, 2 => f.Data.Length + offset, _ => -1 };
        if (pos < 0) return -EINVAL;
        f.Data.Position = pos;
        return pos;
    }

    private long LongSeek(int fd, uint hi, uint lo, uint resultPtr, uint whence)
    {
        long r = Seek(fd, (int)lo, (int)whence);
        if (r < 0) return r;
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, r);
        return m.WriteUser(resultPtr, b) ? 0 : -EFAULT;
    }

    private long Dup(int fd, int to)
    {
        if (!fds.TryGetValue(fd, out var f)) return -EBADF;
        if (to < 0) to = NewFd();
        fds[to] = f;
        return to;
    }

    private long Ioctl(int fd, uint req, uint arg) => fds.ContainsKey(fd) ? -ENOTTY : -EBADF;

    private long Fcntl(int fd, uint cmd, uint arg)
    {
        if (!fds.TryGetValue(fd, out var f)) return -EBADF;
        return cmd switch
        {
            0 or 1030 => Dup(fd, -1),
            3 => f.Writable && f.Readable ? 2 : f.Writable ? 1 : 0,
            _ => 0,
        };
    }

    private long Access(uint pathPtr)
    {
        string? host = HostPath(pathPtr);
        if (host == null) return -EFAULT;
        return File.Exists(host) || Directory.Exists(host) ? 0 : -ENOENT;
    }

    private long AccessAt(uint pathPtr) => Access(pathPtr);

    private long Getcwd(uint buf, uint size)
    {
        if (size < 2) return -ERANGE;
        return m.WriteUser(buf, "/\0"u8) ? 2 : -EFAULT;
    }

    // ---- status -----------------------------------------------------------------------------------------

    private bool Describe(OpenFile? f, string? host, out uint mode, out long size)
    {
        mode = 0; size = 0;
        if (f != null)
        {
            if (f.IsDirectory) { mode = 0x41ED; return true; }
            mode = f.Kind == 0 ? 0x81A4u : 0x1180u;         // regular 0644, or a pipe (0600)
            size = f.Kind == 0 ? f.Data.Length : 0;
            return true;
        }
        if (host != null && Directory.Exists(host)) { mode = 0x41ED; return true; }
        if (host != null && File.Exists(host)) { mode = 0x81A4; size = new FileInfo(host).Length; return true; }
        return false;
    }

    private long WriteStat64(uint buf, uint mode, long size)
    {
        var s = new byte[96];
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(16), mode);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(20), 1);
        BinaryPrimitives.WriteInt64LittleEndian(s.AsSpan(44), size);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(52), 4096);
        BinaryPrimitives.WriteInt64LittleEndian(s.AsSpan(56), (size + 511) / 512);
        foreach (int t in new[] { 64, 72, 80 }) BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(t), FixedTime);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(88), 1);
        return m.WriteUser(buf, s) ? 0 : -EFAULT;
    }

    private long Stat(uint pathPtr, uint buf)
    {
        string? host = HostPath(pathPtr);
        if (host == null) return -EFAULT;
        return Describe(null, host, out uint mode, out long size) ? WriteStat64(buf, mode, size) : -ENOENT;
    }

    private long Fstat(int fd, uint buf)
    {
        if (!fds.TryGetValue(fd, out var f)) return -EBADF;
        Describe(f, null, out uint mode, out long size);
        return WriteStat64(buf, mode, size);
    }

    private long FstatAt(int dirfd, uint pathPtr, uint buf, uint flags)
    {
        string? p = m.ReadString(pathPtr);
        if (p == "" && (flags & 0x1000) != 0) return Fstat(dirfd, buf);
        return Stat(pathPtr, buf);
    }

    private long Statx(int dirfd, uint pathPtr, uint flags, uint buf)
    {
        string? p = m.ReadString(pathPtr);
        if (p == null) return -EFAULT;
        uint mode; long size;
        if (p == "" && (flags & 0x1000) != 0)
        {
            if (!fds.TryGetValue(dirfd, out var f)) return -EBADF;
            Describe(f, null, out mode, out size);
        }
        else if (!Describe(null, HostPath(pathPtr), out mode, out size)) return -ENOENT;
        var s = new byte[256];
        BinaryPrimitives.WriteUInt32LittleEndian(s, 0x7FF);                     // STATX_BASIC_STATS
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(4), 4096);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(16), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(28), (ushort)mode);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(32), 1);
        BinaryPrimitives.WriteInt64LittleEndian(s.AsSpan(40), size);
        BinaryPrimitives.WriteInt64LittleEndian(s.AsSpan(48), (size + 511) / 512);
        foreach (int t in new[] { 64, 80, 96, 112 }) BinaryPrimitives.WriteInt64LittleEndian(s.AsSpan(t), FixedTime);
        return m.WriteUser(buf, s) ? 0 : -EFAULT;
    }

    // ---- memory -----------------------------------------------------------------------------------------

    private long Brk(uint want)
    {
        if (want < brkStart) return brk;
        uint newEnd = (want + 0xFFF) & 0xFFFF_F000;
        if (newEnd > mmapTop - (64u << 20)) return brk;
        for (uint p = (brk + 0xFFF) & 0xFFFF_F000; p < newEnd; p += 0x1000) m.MapUser(p);
        if (newEnd < ((brk + 0xFFF) & 0xFFFF_F000))
        {
            for (uint p = newEnd; p < ((brk + 0xFFF) & 0xFFFF_F000); p += 0x1000) m.UnmapUser(p);
            m.FlushTlb();
        }
        brk = want;
        return brk;
    }

    private long Mmap(uint addr, uint len, uint prot, uint flags, int fd, uint pgoff)
    {
        if (len == 0) return -EINVAL;
        uint size = (len + 0xFFF) & 0xFFFF_F000;
        bool anonymous = (flags & 0x20) != 0, fixedAt = (flags & 0x10) != 0;
        if (!fixedAt)
        {
            if (mmapTop - size < brk + (16u << 20)) return -ENOMEM;
            mmapTop -= size;
            addr = mmapTop;
        }
        else if ((addr & 0xFFF) != 0) return -EINVAL;
        for (uint p = addr; p < addr + size; p += 0x1000)
        {
            if (fixedAt) m.UnmapUser(p);
            m.MapUser(p);
        }
        m.FlushTlb();
        if (!anonymous)
        {
            if (!fds.TryGetValue(fd, out var f) || f.Kind != 0) return -EBADF;
            var bytes = f.Data.ToArray();
            long off = (long)pgoff * 4096;
            if (off < bytes.Length) m.WriteUser(addr, bytes.AsSpan((int)off, (int)Math.Min(len, bytes.Length - off)));
        }
        return addr;
    }

    private long OldMmap(uint args)
    {
        var a = new uint[6];
        for (uint k = 0; k < 6; k++) if (!m.ReadU32(args + k * 4, out a[k])) return -EFAULT;
        if ((a[5] & 0xFFF) != 0) return -EINVAL;
        return Mmap(a[0], a[1], a[2], a[3], (int)a[4], a[5] >> 12);
    }

    private long Munmap(uint addr, uint len)
    {
        if ((addr & 0xFFF) != 0) return -EINVAL;
        for (uint p = addr; p < addr + len; p += 0x1000) m.UnmapUser(p);
        m.FlushTlb();
        return 0;
    }

    private long Mremap(uint old, uint oldSize, uint newSize, uint flags)
    {
        if ((flags & 1) == 0) return -ENOMEM;                // MREMAP_MAYMOVE only
        long r = Mmap(0, newSize, 3, 0x22, -1, 0);
        if (r < 0) return r;
        var tmp = new byte[Math.Min(oldSize, newSize)];
        if (!m.ReadUser(old, tmp) || !m.WriteUser((uint)r, tmp)) return -EFAULT;
        Munmap(old, oldSize);
        return r;
    }

    /// <summary>set_thread_area: a TLS descriptor in GDT entries 6-8 (struct user_desc).</summary>
    private long SetThreadArea(uint desc)
    {
        if (!m.ReadU32(desc, out uint entry) || !m.ReadU32(desc + 4, out uint @base) ||
            !m.ReadU32(desc + 8, out uint limit) || !m.ReadU32(desc + 12, out uint flags)) return -EFAULT;
        if (entry == 0xFFFF_FFFF)
        {
            entry = UserModeMachine.TlsFirstEntry;
            m.WriteU32(desc, entry);
        }
        if (entry < UserModeMachine.TlsFirstEntry || entry > UserModeMachine.TlsFirstEntry + 2) return -EINVAL;
        bool limitInPages = (flags & 0x10) != 0, notPresent = (flags & 0x20) != 0;
        m.SetTlsDescriptor((int)entry, @base, limit, limitInPages, !notPresent);
        return 0;
    }

    // ---- identity, time, limits ----------------------------------------------------------------------------

    private long Uname(uint buf)
    {
        var u = new byte[65 * 6];
        string[] fields = { "Linux", "emu", "6.1.0", "#1", "i686", "(none)" };
        for (int k = 0; k < 6; k++) Encoding.ASCII.GetBytes(fields[k]).CopyTo(u, 65 * k);
        return m.WriteUser(buf, u) ? 0 : -EFAULT;
    }

    private long Time(uint ptr)
    {
        if (ptr != 0 && !m.WriteU32(ptr, FixedTime)) return -EFAULT;
        return FixedTime;
    }

    private long GetTimeOfDay(uint tv)
    {
        if (tv != 0 && (!m.WriteU32(tv, FixedTime) || !m.WriteU32(tv + 4, 0))) return -EFAULT;
        return 0;
    }

    private long ClockGetTime(uint ts, bool time64)
    {
        if (time64)
        {
            var b = new byte[16];
            BinaryPrimitives.WriteInt64LittleEndian(b, FixedTime);
            return m.WriteUser(ts, b) ? 0 : -EFAULT;
        }
        return m.WriteU32(ts, FixedTime) && m.WriteU32(ts + 4, 0) ? 0 : -EFAULT;
    }

    /// <summary>sysinfo: 256 MiB of RAM, half free, one process.</summary>
    private long SysInfo(uint buf)
    {
        var s = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(s, 1000);                              // uptime
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(16), UserModeMachine.RamSize); // totalram
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(20), UserModeMachine.RamSize / 2);
        BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(40), 1);                      // procs
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(52), 1);                      // mem_unit
        return m.WriteUser(buf, s) ? 0 : -EFAULT;
    }

    private long Rlimit(uint buf) => m.WriteU32(buf, 8u << 20) && m.WriteU32(buf + 4, 0xFFFF_FFFF) ? 0 : -EFAULT;

    private long Prlimit(uint newLimit, uint oldLimit)
    {
        if (oldLimit == 0) return 0;
        var b = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(b, 8u << 20);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), ulong.MaxValue);
        return m.WriteUser(oldLimit, b) ? 0 : -EFAULT;
    }

    private long GetRandom(uint buf, uint len)
    {
        var b = new byte[len];
        for (int k = 0; k < b.Length; k++) b[k] = (byte)(nextRandom++ * 151 + 7);
        return m.WriteUser(buf, b) ? len : -EFAULT;
    }
}
