using System.Globalization;

namespace EmuImg;

/// <summary>Sizes as qemu-img spells them: suffixes k/K, M, G, T, P, E (powers of 1024), b ignored.</summary>
internal static class Sizes
{
    /// <summary>Parses "64M", "1.5G", "512", "4k"; null if the text is not a size.</summary>
    public static long? TryParse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        text = text.Trim();
        int shift = 0;
        char last = text[^1];
        int suffixLength = 1;
        switch (last)
        {
            case 'b' or 'B': shift = 0; break;
            case 'k' or 'K': shift = 10; break;
            case 'm' or 'M': shift = 20; break;
            case 'g' or 'G': shift = 30; break;
            case 't' or 'T': shift = 40; break;
            case 'p' or 'P': shift = 50; break;
            case 'e' or 'E': shift = 60; break;
            default: suffixLength = 0; break;
        }
        string number = text[..^suffixLength];
        if (number.Length == 0 || number.StartsWith('-') || number.StartsWith('+')) return null;
        if (!decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value)) return null;
        decimal bytes = value * (decimal)Math.Pow(2, shift);
        if (bytes > long.MaxValue) return null;
        if (bytes != decimal.Truncate(bytes)) return null;
        return (long)bytes;
    }

    /// <summary>QEMU's size_to_str: three significant digits and a binary unit ("580 KiB", "64 MiB", "0 B").</summary>
    public static string ToHuman(long value)
    {
        string[] suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        // frexp(val / (1000/1024)) gives the exponent; switching one step early keeps the integer part below 1000.
        double scaled = value / (1000.0 / 1024.0);
        int exp = scaled == 0 ? 0 : (int)Math.Floor(Math.Log2(scaled)) + 1;
        int i = Math.Max(0, (exp - 1) / 10);
        double div = Math.Pow(2, i * 10);
        return $"{CFormat.G3(value / div)} {suffixes[i]}B";
    }
}

/// <summary>printf-style number formatting where .NET's differs from glibc's.</summary>
internal static class CFormat
{
    /// <summary>%0.3g: three significant digits, trailing zeros dropped, ties to even on the exact binary value.</summary>
    public static string G3(double v)
    {
        if (v == 0) return "0";
        int digitsBeforePoint = (int)Math.Floor(Math.Log10(Math.Abs(v))) + 1;
        int decimals = Math.Max(0, 3 - digitsBeforePoint);
        string s = Fixed(v, decimals);
        if (s.Contains('.')) s = s.TrimEnd('0').TrimEnd('.');
        return s;
    }

    /// <summary>%.Nf with glibc's rounding: the exact binary value, ties to even.</summary>
    public static string Fixed(double v, int decimals)
    {
        // "F40" is exact for the magnitudes printed here; round the exact digits half-to-even.
        string exact = Math.Abs(v).ToString("F40", CultureInfo.InvariantCulture);
        int point = exact.IndexOf('.');
        string intPart = exact[..point];
        string frac = exact[(point + 1)..];
        string kept = frac[..decimals];
        string rest = frac[decimals..];
        var digits = (intPart + kept).ToCharArray();
        int cmp = rest.Length == 0 ? -1 : rest[0] > '5' ? 1 : rest[0] < '5' ? -1 : rest[1..].Any(c => c != '0') ? 1 : 0;
        bool roundUp = cmp > 0 || (cmp == 0 && (digits[^1] - '0') % 2 == 1);
        string number = new(digits);
        if (roundUp)
        {
            var n = System.Numerics.BigInteger.Parse(number) + 1;
            number = n.ToString().PadLeft(number.Length, '0');
        }
        string whole = number[..^decimals].TrimStart('0');
        if (whole.Length == 0) whole = "0";
        string result = decimals == 0 ? whole : whole + "." + number[^decimals..];
        return (v < 0 ? "-" : "") + result;
    }
}
