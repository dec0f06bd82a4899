using System.Buffers.Binary;
using Qed.Storage;

namespace Qed;

/// <summary>
/// Opens images by path: probes the format (QED or raw) unless one is given, and opens backing chains
/// of any depth, each backing file read-only and resolved against the folder of the image naming it.
/// </summary>
public static class ImageOpener
{
    /// <summary>Formats this library reads and writes.</summary>
    public static readonly IReadOnlyList<string> Formats = ["qed", "raw"];

    /// <summary>
    /// Opens <paramref name="path"/> as <paramref name="format"/> ("qed", "raw", or null to probe).
    /// Errors read "Could not open 'path': reason", as qemu-img's do.
    /// </summary>
    public static async Task<IBlockDevice> OpenAsync(string path, string? format, QedOpenOptions? options = null, CancellationToken ct = default)
    {
        options ??= new QedOpenOptions();
        CheckFormatName(format);
        var file = OpenHostFile(path, options);
        try
        {
            return await OpenFileAsync(file, format, options, ct).ConfigureAwait(false);
        }
        catch (ImageException e)
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw Wrap($"Could not open '{path}': ", e);
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The host file an image is read through: asynchronous, or on the caller's thread (<see cref="QedOpenOptions.SynchronousIo"/>).</summary>
    internal static IImageFile OpenHostFile(string path, QedOpenOptions options) =>
        options.SynchronousIo ? SynchronousHostImageFile.Open(path, options.ReadOnly) : HostImageFile.Open(path, options.ReadOnly);

    /// <summary>Opens an image over an already open file (the caller keeps ownership on failure).</summary>
    public static async Task<IBlockDevice> OpenFileAsync(IImageFile file, string? format, QedOpenOptions options, CancellationToken ct = default)
    {
        format ??= await ProbeAsync(file, ct).ConfigureAwait(false);
        var full = System.IO.Path.GetFullPath(file.Path);
        options = options with { ChainPaths = (options.ChainPaths ?? new HashSet<string>()).Append(full).ToHashSet() };
        return format switch
        {
            "qed" => await QedImage.OpenAsync(file, options, ct).ConfigureAwait(false),
            "raw" => new RawImage(file, options.ReadOnly),
            _ => throw new ImageException($"Unknown file format '{format}'"),
        };
    }

    /// <summary>Refuses format names this library does not implement, with the names it does.</summary>
    public static void CheckFormatName(string? format)
    {
        if (format is not null && !Formats.Contains(format))
            throw new ImageException($"Unknown file format '{format}' (supported: {string.Join(", ", Formats)})");
    }

    /// <summary>QED if the file starts with the QED magic; other known formats are refused; anything else is raw.</summary>
    public static async Task<string> ProbeAsync(IImageFile file, CancellationToken ct = default)
    {
        var head = new byte[8];
        int n = await file.ReadAsync(0, head, ct).ConfigureAwait(false);
        if (n >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == QedHeader.Magic) return "qed";
        string? other = n < 4 ? null : BinaryPrimitives.ReadUInt32BigEndian(head) switch
        {
            0x514649fb => "qcow2",      // "QFI\xfb" (qcow and qcow2)
            0x4b444d56 => "vmdk",       // "KDMV"
            0x636f6e65 => "vpc",        // "cone(ctix)"
            0x76686478 => "vhdx",       // "vhdx"
            _ => null,
        };
        if (other is not null)
            throw new ImageFormatException($"Image format '{other}' is not supported (only qed and raw are)");
        return "raw";
    }

    /// <summary>Opens a backing file: read-only, never repaired, loops in the chain refused.</summary>
    internal static async ValueTask<IBlockDevice> OpenBackingAsync(string path, string? format, QedOpenOptions parent, CancellationToken ct)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (parent.ChainPaths is { } chain && chain.Contains(full))
            throw new ImageFormatException($"Could not open '{path}': the backing chain loops back to this image");
        bool writable = parent.WritableBackingPath is { } w && System.IO.Path.GetFullPath(w) == full;
        var options = parent with { ReadOnly = !writable, NoBacking = false, CheckMode = false, BackingOpener = null };
        return await OpenAsync(path, format, options, ct).ConfigureAwait(false);
    }

    internal static ImageException Wrap(string prefix, ImageException e)
    {
        if (e.Message.StartsWith(prefix, StringComparison.Ordinal)) return e;
        return e switch
        {
            ImageFormatException => new ImageFormatException(prefix + e.Message, e),
            BlockIOException => new BlockIOException(prefix + e.Message, e),
            _ => new ImageException(prefix + e.Message, e),
        };
    }
}
