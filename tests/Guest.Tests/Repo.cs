namespace Guest.Tests;

/// <summary>Where the repository and the guest images built by guest-images/build.sh are.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string GuestBuild => Path.Combine(Root, "guest-images", "build");

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Emulator.sln")) && Directory.Exists(Path.Combine(dir.FullName, "guest-images")))
                return dir.FullName;
        throw new InvalidOperationException($"cannot find the repository (Emulator.sln) above {AppContext.BaseDirectory}");
    }

    /// <summary>The path of a built guest artefact; fails the test with what to run when it is missing.</summary>
    public static string GuestArtefact(string name)
    {
        var path = Path.Combine(GuestBuild, name);
        if (!File.Exists(path))
            Assert.Fail($"guest image {path} is missing: build it with ./guest-images/build.sh (make test does this first)");
        return path;
    }
}
