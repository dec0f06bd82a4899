using BenchmarkDotNet.Running;

// In-process micro-benchmarks: dotnet run -c Release --project tests/Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
