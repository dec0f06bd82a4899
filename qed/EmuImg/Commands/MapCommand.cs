using System.CommandLine;
using System.Globalization;
using System.Text;
using Qed;

namespace EmuImg;

/// <summary>map [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename</summary>
internal static class MapCommand
{
    public static Command Build(EmuImgCli cli)
    {
        var format = EmuImgCli.FormatOption();
        var output = EmuImgCli.OutputOption();
        var start = new Option<string>("--start-offset") { Description = "first byte to map" };
        var maxLength = new Option<string>("--max-length") { Description = "how many bytes to map" };
        var share = EmuImgCli.ForceShareOption();
        var filename = new Argument<string>("filename");
        var cmd = new Command("map", "Show how the image's guest ranges map to files") { format, output, start, maxLength, share, filename };
        cmd.SetAction(async (p, ct) =>
        {
            string path = p.GetValue(filename)!;
            long from = p.GetValue(start) is { } s ? EmuImgCli.ParseSize(s, "start offset") : 0;
            long length = p.GetValue(maxLength) is { } m ? EmuImgCli.ParseSize(m, "max length") : long.MaxValue;
            bool json = p.GetValue(output) == "json";
            var device = await EmuImgCli.OpenAsync(path, p.GetValue(format), new QedOpenOptions { ReadOnly = true });
            await using (device)
            {
                long end = length > device.Size - Math.Min(from, device.Size) ? device.Size : from + length;
                var entries = new List<MapEntry>();
                await foreach (var e in ImageMap.MapAsync(device, from, end - from, ct)) entries.Add(e);
                cli.Out.Write(json ? Json(entries) : Human(entries));
            }
            return 0;
        });
        return cmd;
    }

    private static string Json(List<MapEntry> entries)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            sb.Append($"{{ \"start\": {e.Start}, \"length\": {e.Length}, \"depth\": {e.Depth}, " +
                      $"\"present\": {B(e.Present)}, \"zero\": {B(e.Zero)}, \"data\": {B(e.Data)}");
            if (e.HasOffset) sb.Append($", \"offset\": {e.Offset}");
            sb.Append('}');
            if (i + 1 < entries.Count) sb.Append(",\n");
        }
        sb.Append("]\n");
        return sb.ToString();
    }

    private static string B(bool b) => b ? "true" : "false";

    /// <summary>Only data ranges are listed; zero and unallocated ranges are implied (qemu-img's human map).</summary>
    private static string Human(List<MapEntry> entries)
    {
        var sb = new StringBuilder();
        sb.Append($"{"Offset",-16}{"Length",-16}{"Mapped to",-16}File\n");
        foreach (var e in entries)
        {
            if (e.Data && !e.Zero)
                sb.Append($"{Hex(e.Start),-16}{Hex(e.Length),-16}{Hex(e.HasOffset ? e.Offset : 0),-16}{e.File}\n");
        }
        return sb.ToString();
    }

    /// <summary>printf's %#x: "0x1f", but plain "0" for zero.</summary>
    private static string Hex(long v) => v == 0 ? "0" : "0x" + v.ToString("x", CultureInfo.InvariantCulture);
}
