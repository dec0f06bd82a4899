using System.Text.Json;

namespace Experiments.Tests.Support;

/// <summary>Runs <c>bin/emu bench</c> as a user would and reads the results it wrote.</summary>
public static class Bench
{
    public sealed record Outcome(RunResult Process, string Dir, JsonDocument Json)
    {
        public IEnumerable<JsonElement> Runs => Json.RootElement.GetProperty("runs").EnumerateArray();

        public JsonElement Run(string id) => Runs.Single(r => r.GetProperty("id").GetString() == id);
    }

    public static Outcome Run(string outDir, params string[] args)
    {
        var r = Tool.Run(Repo.Tool("emu"), ["bench", .. args, "--out", outDir], timeoutSeconds: 900);
        string json = Path.Combine(outDir, "results.json");
        Assert.That(File.Exists(json), Is.True, $"emu bench wrote no results.json:\n{r}");
        return new Outcome(r, outDir, JsonDocument.Parse(File.ReadAllText(json)));
    }

    /// <summary>The files of the install's source tar that are regular files (independent of the guest's count).</summary>
    public static int TarFileCount(string tarDisk)
    {
        var r = Tool.Run(Tool.Find("tar", "tar"), ["-tvf", tarDisk]);
        Assert.That(r.ExitCode, Is.EqualTo(0), $"tar -tvf {tarDisk}:\n{r}");
        return r.Stdout.Split('\n').Count(l => l.StartsWith('-'));
    }
}
