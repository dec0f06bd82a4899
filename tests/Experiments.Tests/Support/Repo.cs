namespace Experiments.Tests.Support;

/// <summary>Where the repository, its built tools (bin/) and the built guest (guest-images/build/) are.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Emulator.sln")) && Directory.Exists(Path.Combine(dir.FullName, "guest-images")))
                return dir.FullName;
        throw new InvalidOperationException($"cannot find the repository (Emulator.sln) above {AppContext.BaseDirectory}");
    }

    /// <summary>A tool from bin/; fails the test with what to run when it is missing.</summary>
    public static string Tool(string name)
    {
        var path = Path.Combine(Root, "bin", name);
        if (!File.Exists(path)) Assert.Fail($"{path} is missing: build the tools with 'make build' (make test does this first)");
        return path;
    }

    /// <summary>A file of the built guest; fails the test with what to run when it is missing.</summary>
    public static string Guest(string name)
    {
        var path = Path.Combine(Root, "guest-images", "build", name);
        if (!File.Exists(path)) Assert.Fail($"{path} is missing: build the guest with ./guest-images/build.sh (make test does this first)");
        return path;
    }
}
