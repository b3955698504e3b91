using System.Globalization;
using System.Text;

namespace ConnectedRegistry.Core;

/// <summary>
/// Makes an untrusted string (a user name, a repository name from a bad request, a header value) safe to put
/// in a log line: control characters (CR, LF, NUL, ESC and the rest of C0 and C1), Unicode line and paragraph
/// separators (U+2028, U+2029), bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
/// the bidirectional marks (U+200E, U+200F, U+061C), which can make a log viewer show a line other than the one
/// written, become visible escapes (<c>\n</c>, <c>\u001b</c>), a backslash
/// becomes <c>\\</c> so an escape can never be forged, and anything past <see cref="MaxLength"/> characters is
/// cut with an ellipsis. Plain text comes back as the same instance.
/// </summary>
public static class LogText
{
    public const int MaxLength = 256;

    public static string Escape(string? value)
    {
        if (value is null)
        {
            return "(none)";
        }

        if (value.Length <= MaxLength && !value.Any(NeedsEscape))
        {
            return value;
        }

        var text = new StringBuilder(Math.Min(value.Length, MaxLength) + 16);
        foreach (var c in value.Length > MaxLength ? value[..MaxLength] : value)
        {
            switch (c)
            {
                case '\\': text.Append(@"\\"); break;
                case '\n': text.Append(@"\n"); break;
                case '\r': text.Append(@"\r"); break;
                case '\t': text.Append(@"\t"); break;
                case '\0': text.Append(@"\0"); break;
                default:
                    if (NeedsEscape(c))
                    {
                        text.Append(@"\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        text.Append(c);
                    }

                    break;
            }
        }

        return value.Length > MaxLength ? text.Append('…').ToString() : text.ToString();
    }

    private static bool NeedsEscape(char c) =>
        c == '\\' || char.IsControl(c) || c is '\u2028' or '\u2029' or (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069')
        or '\u200e' or '\u200f' or '\u061c';
}
