using System.Numerics;
using System.Text;

namespace EmuIo;

/// <summary>
/// qemu-io's number parsing and printing (qemu-io-cmds.c: cvtnum, cvtstr, timestr, print_report,
/// dump_buffer, parse_pattern), reproduced so that emu-io's lines read exactly as qemu-io's.
/// </summary>
internal static class QemuIoFormat
{
    public const int EINVAL = 22, ERANGE = 34, EIO = 5, ENOTSUP = 95, EPERM = 1, ENOENT = 2;

    /// <summary>strerror() texts of the errors emu-io reports (glibc's wording).</summary>
    public static string StrError(int errno) => errno switch
    {
        EIO => "Input/output error",
        EINVAL => "Invalid argument",
        ERANGE => "Numerical result out of range",
        ENOTSUP => "Operation not supported",
        EPERM => "Operation not permitted",
        ENOENT => "No such file or directory",
        _ => $"Unknown error {errno}",
    };

    /// <summary>
    /// cvtnum: qemu_strtosz. Decimal (a fraction only with a K..E suffix, or a zero one), or 0x hex;
    /// suffixes b, k, m, g, t, p, e (powers of 1024, either case). Returns the value, or −EINVAL / −ERANGE.
    /// </summary>
    public static long CvtNum(string s, Action<string>? warn = null)
    {
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        if (i < s.Length && s[i] == '+') i++;
        if (i >= s.Length) return -EINVAL;
        BigInteger whole = 0;
        double fraction = 0;
        bool hex = false, fractional = false;
        if (i + 1 < s.Length && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X'))
        {
            hex = true;
            i += 2;
            int start = i;
            while (i < s.Length && Uri.IsHexDigit(s[i])) whole = whole * 16 + Convert.ToInt32(s[i++].ToString(), 16);
            if (i == start) return -EINVAL;
        }
        else
        {
            int start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i])) whole = whole * 10 + (s[i++] - '0');
            if (i == start) return -EINVAL;
            if (i < s.Length && s[i] == '.')
            {
                int f = i++;
                while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
                fraction = double.Parse("0" + s[f..i], System.Globalization.CultureInfo.InvariantCulture);
                fractional = fraction != 0;
            }
        }
        int shift = 0;
        bool suffix = false;
        if (i < s.Length)
        {
            shift = char.ToLowerInvariant(s[i]) switch
            {
                'b' => 0, 'k' => 10, 'm' => 20, 'g' => 30, 't' => 40, 'p' => 50, 'e' => 60,
                _ => -1,
            };
            if (shift < 0) return -EINVAL;
            suffix = true;
            i++;
        }
        if (i != s.Length) return -EINVAL;
        if (fractional && shift == 0) return -EINVAL;
        if (hex && suffix) warn?.Invoke($"Using a multiplier suffix on hex numbers is deprecated: {s}");
        BigInteger value = (whole << shift) + new BigInteger(Math.Round(fraction * Math.Pow(2, shift)));
        if (value > long.MaxValue) return -ERANGE;
        return (long)value;
    }

    /// <summary>print_cvtnum_err.</summary>
    public static string CvtNumError(long rc, string arg) => rc switch
    {
        -EINVAL => $"Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- {arg}",
        -ERANGE => $"Parsing error: argument too large -- {arg}",
        _ => $"Parsing error: {arg}",
    };

    /// <summary>cvtstr: "%.3f" in the largest binary unit, ".000" dropped ("4 KiB", "15.812 MiB", "512 bytes").</summary>
    public static string CvtStr(double value)
    {
        (double unit, string suffix)[] units =
        [
            (Math.Pow(2, 60), " EiB"), (Math.Pow(2, 50), " PiB"), (Math.Pow(2, 40), " TiB"),
            (Math.Pow(2, 30), " GiB"), (Math.Pow(2, 20), " MiB"), (Math.Pow(2, 10), " KiB"),
        ];
        string text = "", sfx = " bytes";
        bool found = false;
        foreach (var (unit, suffix) in units)
        {
            if (value >= unit)
            {
                text = Fixed(value / unit, 3);
                sfx = suffix;
                found = true;
                break;
            }
        }
        if (!found) text = Fixed(value, 6);
        int trim = text.IndexOf(".000", StringComparison.Ordinal);
        return trim >= 0 ? text[..trim] + sfx : text + sfx;
    }

    /// <summary>timestr: "SS.ss sec" under a second, else "H:MM:SS.ss"; the verbose form always for -C.</summary>
    public static string TimeStr(TimeSpan t, bool verbose)
    {
        long sec = (long)Math.Floor(t.TotalSeconds);
        double frac = t.TotalSeconds - sec;
        if (verbose || sec != 0)
            return $"{sec / 3600}:{sec % 3600 / 60:00}:{Pad(Fixed(sec % 60 + frac, 2), 5)}";
        return $"{Pad(Fixed(frac, 2), 5)} sec";
    }

    private static string Pad(string s, int width) => s.Length >= width ? s : new string('0', width - s.Length) + s;

    /// <summary>print_report: the two lines after a read or write (or one CSV line with -C).</summary>
    public static void PrintReport(TextWriter o, string op, TimeSpan t, long offset, long count, long total, int cnt, bool cflag)
    {
        double seconds = t.TotalSeconds;
        string ts = TimeStr(t, cflag);
        if (!cflag)
        {
            o.Write($"{op} {total}/{count} bytes at offset {offset}\n");
            o.Write($"{CvtStr(total)}, {cnt} ops; {ts} ({CvtStr(total / seconds)}/sec and {Fixed(cnt / seconds, 4)} ops/sec)\n");
        }
        else
        {
            o.Write($"{total},{cnt},{ts},{Fixed(total / seconds, 3)},{Fixed(cnt / seconds, 3)}\n");
        }
    }

    /// <summary>dump_buffer: 16 bytes a line, hex then the alphanumeric characters.</summary>
    public static void DumpBuffer(TextWriter o, ReadOnlySpan<byte> buffer, long offset)
    {
        var line = new StringBuilder();
        for (int i = 0; i < buffer.Length; i += 16)
        {
            line.Clear();
            line.Append((offset + i).ToString("x8")).Append(":  ");
            int n = Math.Min(16, buffer.Length - i);
            for (int j = 0; j < n; j++) line.Append(buffer[i + j].ToString("x2")).Append(' ');
            line.Append(' ');
            for (int j = 0; j < n; j++)
            {
                byte b = buffer[i + j];
                line.Append(char.IsAsciiLetterOrDigit((char)b) ? (char)b : '.');
            }
            o.Write(line.Append('\n').ToString());
        }
    }

    /// <summary>parse_pattern: strtol(arg, 0) in 0..255 with nothing after it; −1 (after printing why) otherwise.</summary>
    public static int ParsePattern(TextWriter o, string arg)
    {
        long? v = StrToL(arg);
        if (v is not { } p || p < 0 || p > 255)
        {
            o.Write($"{arg} is not a valid pattern byte\n");
            return -1;
        }
        return (int)p;
    }

    /// <summary>strtol with base 0 that must consume the whole string (leading blanks and a sign allowed).</summary>
    private static long? StrToL(string s)
    {
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
        int radix = 10;
        if (i + 1 < s.Length && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && i + 2 < s.Length && Uri.IsHexDigit(s[i + 2]))
        {
            radix = 16;
            i += 2;
        }
        else if (i < s.Length && s[i] == '0') radix = 8;
        int start = i;
        BigInteger v = 0;
        for (; i < s.Length; i++)
        {
            int d = char.IsAsciiDigit(s[i]) ? s[i] - '0' : char.IsAsciiHexDigit(s[i]) ? char.ToLowerInvariant(s[i]) - 'a' + 10 : 99;
            if (d >= radix) break;
            v = v * radix + d;
        }
        if (i == start || i != s.Length) return null;
        if (negative) v = -v;
        return v > long.MaxValue ? long.MaxValue : v < long.MinValue ? long.MinValue : (long)v;
    }

    /// <summary>
    /// printf("%.Nf"): the exact binary value rounded to N decimals, ties to even, as glibc prints it
    /// ("1.062" for 1.0625, where .NET's formatting would round the tie away from zero).
    /// </summary>
    public static string Fixed(double value, int decimals)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
        bool negative = value < 0 || (value == 0 && double.IsNegative(value));
        long bits = BitConverter.DoubleToInt64Bits(Math.Abs(value));
        int exponent = (int)((bits >> 52) & 0x7FF);
        long mantissa = bits & 0xFFFFFFFFFFFFFL;
        if (exponent == 0) exponent++;
        else mantissa |= 1L << 52;
        exponent -= 1075;                                   // value = mantissa * 2^exponent
        BigInteger scaled = BigInteger.Pow(10, decimals) * mantissa;
        BigInteger q;
        if (exponent >= 0) q = scaled << exponent;
        else
        {
            BigInteger den = BigInteger.One << -exponent;
            q = BigInteger.DivRem(scaled, den, out var r);
            int cmp = (r * 2).CompareTo(den);
            if (cmp > 0 || (cmp == 0 && !q.IsEven)) q += 1;
        }
        string digits = q.ToString().PadLeft(decimals + 1, '0');
        string result = decimals == 0 ? digits : digits[..^decimals] + "." + digits[^decimals..];
        return negative ? "-" + result : result;
    }
}
