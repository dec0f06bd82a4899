namespace Qed.Tests.Support;

/// <summary>A fresh temporary folder per test, removed afterwards.</summary>
public sealed class TestDir : IDisposable
{
    public TestDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "qed-tests-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
