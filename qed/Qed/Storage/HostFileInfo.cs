using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Qed.Storage;

/// <summary>
/// The two host facts .NET does not expose: allocated blocks (fstat's st_blocks, qemu-img's "disk size")
/// and sparse-file extents (lseek SEEK_DATA/SEEK_HOLE, which qemu-img map uses for raw files).
/// </summary>
internal static unsafe partial class HostFileInfo
{
    private const int SeekDataWhence = 3, SeekHoleWhence = 4;

    [LibraryImport("libc", EntryPoint = "fstat", SetLastError = true)]
    private static partial int FStat(int fd, byte* buffer);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    /// <summary>st_blocks × 512; the file length where the host cannot say.</summary>
    public static long AllocatedBytes(SafeFileHandle handle, string path)
    {
        // struct stat puts st_blocks at byte 64 on both x86-64 and arm64 Linux.
        bool known = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;
        if (known)
        {
            byte* buf = stackalloc byte[256];
            try
            {
                if (FStat((int)handle.DangerousGetHandle(), buf) == 0)
                    return *(long*)(buf + 64) * 512;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        }
        return RandomAccess.GetLength(handle);
    }

    /// <summary>
    /// The first data (or hole) offset at or after <paramref name="offset"/>; the file length when there
    /// is none. Where the host has no SEEK_DATA, the whole file is data.
    /// </summary>
    public static long Seek(SafeFileHandle handle, long offset, bool hole)
    {
        long length = RandomAccess.GetLength(handle);
        if (offset >= length) return length;
        if (OperatingSystem.IsLinux())
        {
            try
            {
                long r = LSeek((int)handle.DangerousGetHandle(), offset, hole ? SeekHoleWhence : SeekDataWhence);
                if (r >= 0) return Math.Min(r, length);
                // ENXIO: no data past offset.
                if (!hole && Marshal.GetLastPInvokeError() == 6) return length;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        }
        return hole ? length : offset;
    }
}
