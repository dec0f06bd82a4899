namespace Qed.Tests.Fuzzing;

/// <summary>Figures of an image-fuzzing run.</summary>
public sealed class ImageFuzzStats
{
    public long Inputs, Accepted, Refused, ToolInputs;
    public readonly List<(int Seed, string Why)> Failures = new();
    public double WorstAllocationRatio;
    public string WorstAllocation = "";

    public override string ToString() =>
        $"{Inputs} inputs ({Accepted} accepted, {Refused} refused with a one-line error), {ToolInputs} of them also through emu-img; " +
        $"largest allocation {WorstAllocationRatio:P0} of its bound ({WorstAllocation}); {Failures.Count} failures";
}

/// <summary>Runs the image fuzzer over inputs numbered from a seed: input n is seed image n mod k mutated by a Random(n).</summary>
public static class ImageFuzzRunner
{
    public static async Task RunAsync(ImageFuzzer fuzzer, int firstSeed, long count, ImageFuzzStats stats, TimeSpan timeBound,
        Func<int, byte[], string?>? toolCheck = null, int toolEvery = 0, Action<int, byte[], string>? onFailure = null)
    {
        for (long i = 0; i < count; i++)
        {
            int seed = firstSeed + (int)i;
            var input = Input(fuzzer.Corpus, seed);
            var (verdict, why) = await fuzzer.RunAsync(input, seed, timeBound);
            if (verdict == FuzzVerdict.Failed || why is not null)
            {
                stats.Failures.Add((seed, why ?? "failed"));
                onFailure?.Invoke(seed, input, why ?? "failed");
            }
            else if (toolEvery > 0 && toolCheck is not null && seed % toolEvery == 0)
            {
                stats.ToolInputs++;
                if (toolCheck(seed, input) is { } toolWhy)
                {
                    stats.Failures.Add((seed, "emu-img: " + toolWhy));
                    onFailure?.Invoke(seed, input, toolWhy);
                }
            }
            stats.Inputs++;
            if (verdict == FuzzVerdict.Accepted) stats.Accepted++;
            else if (verdict == FuzzVerdict.Refused) stats.Refused++;
        }
        if (fuzzer.WorstAllocationRatio > stats.WorstAllocationRatio)
        {
            stats.WorstAllocationRatio = fuzzer.WorstAllocationRatio;
            stats.WorstAllocation = fuzzer.WorstAllocation;
        }
    }

    /// <summary>The input numbered <paramref name="seed"/>: reproducible from the number alone.</summary>
    public static byte[] Input(ImageCorpus corpus, int seed)
    {
        var rng = new Random(seed);
        var baseImage = corpus.Seeds[(int)((uint)seed % (uint)corpus.Seeds.Count)];
        return ImageMutator.Mutate(baseImage, rng, corpus.Names);
    }
}
