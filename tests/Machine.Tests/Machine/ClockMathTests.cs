using Emulator.Machine;
using NUnit.Framework;

namespace Machine.Tests.Machine;

/// <summary>ClockMath against the same scaling done in 128-bit arithmetic, for the clock ratios the devices use.</summary>
public class ClockMathTests
{
    private static readonly (long Mul, long Div)[] Ratios =
    {
        (1_193_182, 1_000_000_000), (1_000_000_000, 1_193_182),   // PIT ticks <-> ns
        (32_768, 1_000_000_000), (1_000_000_000, 32_768),          // RTC cycles <-> ns
    };

    [Test]
    public void MatchesInt128_OnRandomAndEdgeValues()
    {
        var rng = new Random(4242);
        var values = new List<long> { 0, 1, -1, 999_999_999, 1_000_000_000, 1_000_000_001, 1_193_181, 1_193_182, 32_767, 32_768,
            -999_999_999, -1_000_000_001, 7_000_000_000_000 /* ~2 hours of ns */, -7_000_000_000_000 };
        for (int k = 0; k < 20_000; k++)
            values.Add(rng.NextInt64(-(1L << 42), 1L << 42) >> rng.Next(0, 40));
        foreach (var (mul, div) in Ratios)
            foreach (long v in values)
            {
                Assert.That(ClockMath.MulDiv(v, mul, div), Is.EqualTo((long)((Int128)v * mul / div)), $"{v} * {mul} / {div}");
                if (v >= 0)
                    Assert.That(ClockMath.MulDivCeiling(v, mul, div), Is.EqualTo((long)(((Int128)v * mul + div - 1) / div)),
                        $"ceiling of {v} * {mul} / {div}");
            }
    }
}
