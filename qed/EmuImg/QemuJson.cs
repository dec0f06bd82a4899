using System.Globalization;
using System.Text;

namespace EmuImg;

/// <summary>
/// A JSON object printed the way QEMU 7.2's qobject_to_json_pretty prints a QDict: four-space indent,
/// and keys in QDict's iteration order (hash bucket tdb_hash(key) % 512 ascending; within a bucket,
/// the key inserted last comes first), so the text matches qemu-img's byte for byte.
/// </summary>
internal sealed class QemuJsonObject
{
    private readonly List<(string Key, object Value)> _fields = new();

    public QemuJsonObject Add(string key, object value)
    {
        _fields.Add((key, value));
        return this;
    }

    public string ToPrettyString(int level = 0)
    {
        var sb = new StringBuilder();
        Write(sb, this, level);
        return sb.ToString();
    }

    public static string PrettyList(IEnumerable<QemuJsonObject> items)
    {
        var sb = new StringBuilder("[");
        bool first = true;
        foreach (var item in items)
        {
            sb.Append(first ? "\n" : ",\n").Append(Indent(1));
            Write(sb, item, 1);
            first = false;
        }
        sb.Append('\n').Append(']');
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, QemuJsonObject obj, int level)
    {
        var ordered = obj._fields
            .Select((f, i) => (f.Key, f.Value, Bucket: TdbHash(f.Key) % 512, Index: i))
            .OrderBy(f => f.Bucket).ThenByDescending(f => f.Index);
        sb.Append('{');
        bool first = true;
        foreach (var f in ordered)
        {
            sb.Append(first ? "\n" : ",\n").Append(Indent(level + 1));
            AppendString(sb, f.Key);
            sb.Append(": ");
            WriteValue(sb, f.Value, level + 1);
            first = false;
        }
        sb.Append('\n').Append(Indent(level)).Append('}');
    }

    private static void WriteValue(StringBuilder sb, object value, int level)
    {
        switch (value)
        {
            case QemuJsonObject o: Write(sb, o, level); break;
            case string s: AppendString(sb, s); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long or int or ulong: sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture)); break;
            default: throw new ArgumentException($"unsupported JSON value {value.GetType()}");
        }
    }

    private static string Indent(int level) => new(' ', level * 4);

    /// <summary>QEMU escapes control characters and everything past ASCII as \uXXXX (upper-case hex).</summary>
    public static void AppendString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || c >= 0x7f) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>QEMU's qdict.c tdb_hash.</summary>
    internal static uint TdbHash(string key)
    {
        var bytes = Encoding.UTF8.GetBytes(key);
        uint value = unchecked(0x238F13AFu * (uint)bytes.Length);
        for (int i = 0; i < bytes.Length; i++)
            value = unchecked(value + ((uint)bytes[i] << (i * 5 % 24)));
        return unchecked(1103515243u * value + 12345u);
    }
}
