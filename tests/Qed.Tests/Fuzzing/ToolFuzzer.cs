using System.Diagnostics;
using System.Security.Cryptography;
using EmuImg;

namespace Qed.Tests.Fuzzing;

/// <summary>
/// One fuzzed image through emu-img's commands on real files, in a sandbox folder that also holds the
/// corpus's backing files and a bystander file. Rules: every command ends within the time bound with
/// exit 0 or one line on stderr ("emu-img: ...", printable, no internal error, no stack trace); no file
/// changes but the copies a command was asked to repair or resize and the outputs it was asked to write.
/// </summary>
public sealed class ToolFuzzer(ImageCorpus corpus, TimeSpan timeBound)
{
    private static readonly string[][] Commands =
    [
        ["info", "{img}"],
        ["info", "--output=json", "--backing-chain", "{img}"],
        ["check", "{img}"],
        ["check", "--output=json", "{img}"],
        ["map", "--output=json", "{img}"],
        ["map", "{img}"],
        ["compare", "{img}", "{img}"],
        ["convert", "-O", "raw", "{img}", "{dir}/out.raw"],
        ["convert", "-O", "qed", "{img}", "{dir}/out.qed"],
        ["bench", "-c", "64", "{img}"],
        ["check", "-r", "all", "{dir}/repair.qed"],
        ["resize", "{dir}/resize.qed", "+1M"],
    ];

    /// <summary>Files each command may create or change (relative to the sandbox).</summary>
    private static readonly string[] Writable = ["out.raw", "out.qed", "repair.qed", "resize.qed"];

    /// <summary>Runs the commands over <paramref name="input"/>; null when every rule held, else what broke.</summary>
    public string? Run(int seed, byte[] input)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"toolfuzz-{Environment.ProcessId}-{seed}");
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var (name, bytes) in corpus.Files) File.WriteAllBytes(Path.Combine(dir, name), bytes);
            File.WriteAllBytes(Path.Combine(dir, ImageCorpus.ImageName), input);
            File.WriteAllBytes(Path.Combine(dir, "bystander.txt"), "a file no command may touch\n"u8.ToArray());
            var before = Hashes(dir);
            string img = Path.Combine(dir, ImageCorpus.ImageName);
            foreach (var template in Commands)
            {
                File.Copy(img, Path.Combine(dir, "repair.qed"), overwrite: true);
                File.Copy(img, Path.Combine(dir, "resize.qed"), overwrite: true);
                var args = template.Select(a => a.Replace("{img}", img).Replace("{dir}", dir)).ToArray();
                string what = "emu-img " + string.Join(' ', template);
                var clock = Stopwatch.StartNew();
                var stdout = new StringWriter();
                var stderr = new StringWriter();
                var run = Task.Run(() => EmuImgCli.RunAsync(args, stdout, stderr));
                if (!run.Wait(timeBound)) return $"{what}: did not finish within {timeBound.TotalSeconds:0} s";
                int code = run.Result;
                string err = stderr.ToString();
                // qemu-img's codes: 1 error, 2 corruptions or images cannot be opened, 3 leaks, 4 a compare read error, 63 cannot be checked.
                if (code != 0 && code is not (1 or 2 or 3 or 4 or 63))
                    return $"{what}: exit code {code}";
                var lines = err.TrimEnd('\n').Split('\n', StringSplitOptions.RemoveEmptyEntries);
                if (code != 0 && template[0] != "compare" && template[0] != "check" && lines.Length != 1)
                    return $"{what}: exit {code} with {lines.Length} lines on stderr: {err}";
                if (lines.Length > 1) return $"{what}: {lines.Length} lines on stderr: {err}";
                if (lines.Length == 1 && !lines[0].StartsWith("emu-img: ", StringComparison.Ordinal))
                    return $"{what}: stderr does not start with 'emu-img: ': {err}";
                if (err.Contains("internal error") || err.Contains("   at ") || stdout.ToString().Contains("   at "))
                    return $"{what}: {err.Trim()}";
                if (err.TrimEnd('\n').Any(char.IsControl)) return $"{what}: control characters on stderr: {err}";
                var after = Hashes(dir);
                foreach (var (name, hash) in before)
                {
                    if (Writable.Contains(name)) continue;
                    if (!after.TryGetValue(name, out var now)) return $"{what}: deleted {name}";
                    if (!now.SequenceEqual(hash)) return $"{what}: changed {name}, which it must only read";
                }
                foreach (var name in after.Keys)
                    if (!before.ContainsKey(name) && !Writable.Contains(name)) return $"{what}: created {name}";
            }
            return null;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// A hash of every file that must not change; the outputs only by name (a conversion of a disk of a
    /// few terabytes is a sparse file of that length: legitimate, and not worth reading).
    /// </summary>
    private static Dictionary<string, byte[]> Hashes(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).ToDictionary(
            p => Path.GetRelativePath(dir, p),
            p =>
            {
                if (Directory.Exists(p) || Writable.Contains(Path.GetRelativePath(dir, p))) return [];
                using var f = File.OpenRead(p);
                return SHA256.HashData(f);
            });
}
