namespace Emulator.Machine;

/// <summary>
/// Exact scaling between the virtual clock's nanoseconds and a device's own clock (the PIT's 1.193182 MHz, the
/// RTC's 32.768 kHz) in 64-bit integers: value × mul / div without the product overflowing, for mul and div
/// below 2^31. The devices read these on every port access (Linux polls the PIT while it calibrates the TSC), so
/// they must be cheap from the first call: no 128-bit arithmetic, which is slower and compiled on first use.
/// </summary>
public static class ClockMath
{
    /// <summary>value × mul / div, truncated toward zero (as integer division is).</summary>
    public static long MulDiv(long value, long mul, long div)
    {
        long q = Math.DivRem(value, div, out long r);
        return q * mul + r * mul / div;
    }

    /// <summary>value × mul / div rounded up, for value ≥ 0.</summary>
    public static long MulDivCeiling(long value, long mul, long div)
    {
        long q = Math.DivRem(value, div, out long r);
        return q * mul + (r * mul + div - 1) / div;
    }
}
