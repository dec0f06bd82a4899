namespace Emulator.Machine;

/// <summary>
/// QEMU's option-value syntax (QemuOpts): comma-separated <c>key=value</c> pairs, a doubled comma standing for
/// a literal one, and an optional leading value without a key (<c>-m 128M</c>, <c>-icount 3</c>).
/// </summary>
public static class KeyValueList
{
    public static List<(string Key, string Value)> Parse(string text, string option, string? implicitKey = null)
    {
        var items = new List<(string, string)>();
        var parts = new List<string>();
        var current = new System.Text.StringBuilder();
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == ',')
            {
                if (i + 1 < text.Length && text[i + 1] == ',') { current.Append(','); i++; continue; }
                parts.Add(current.ToString());
                current.Clear();
                continue;
            }
            current.Append(text[i]);
        }
        parts.Add(current.ToString());
        for (int i = 0; i < parts.Count; i++)
        {
            string p = parts[i];
            int eq = p.IndexOf('=');
            if (eq < 0)
            {
                if (i == 0 && implicitKey != null) { items.Add((implicitKey, p)); continue; }
                if (p.Length == 0) throw new MachineOptionException($"{option}: empty item in '{text}'");
                items.Add((p, ""));                   // a bare flag such as "server" or "nowait"
                continue;
            }
            items.Add((p[..eq], p[(eq + 1)..]));
        }
        return items;
    }

    /// <summary>QEMU's boolean spellings: on/off, yes/no, true/false; a bare flag means on.</summary>
    public static bool ParseBool(string value, string option, string key) => value switch
    {
        "" or "on" or "yes" or "true" => true,
        "off" or "no" or "false" => false,
        _ => throw new MachineOptionException($"{option}: {key}={value}: expected on or off"),
    };
}
