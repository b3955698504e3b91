using System.Globalization;
using System.Text;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Whether an unknown member name looks like a known one: the same letters once case, separators (<c>_</c>, <c>-</c>,
/// <c>.</c>, spaces), invisible characters (zero-width space, joiners, soft hyphen), combining accents, full-width
/// forms and the Cyrillic and Greek letters that look Latin are set aside, or within a small edit distance
/// (Damerau–Levenshtein) of it, which also covers a single accented letter. The module runs with invariant
/// globalization (no ICU), so <c>string.Normalize</c> does nothing here: the foldings are done by hand. The twin parser refuses such a member next to a security member
/// (<c>clientTokens</c>, <c>mode</c>, a token's <c>status</c>, …): applying the document without it would run the
/// registry more open than the operator wrote it.
/// </summary>
public static class MemberLikeness
{
    // Letters that render as Latin ones (Unicode's confusables for the Latin lower case, the common part):
    // Cyrillic and Greek, lower case (names are compared after lower-casing, which maps the capitals here).
    private static readonly Dictionary<char, char> Lookalikes = new()
    {
        ['а'] = 'a', ['в'] = 'b', ['е'] = 'e', ['ё'] = 'e', ['і'] = 'i', ['ї'] = 'i', ['ј'] = 'j', ['к'] = 'k',
        ['м'] = 'm', ['н'] = 'h', ['о'] = 'o', ['п'] = 'n', ['р'] = 'p', ['с'] = 'c', ['т'] = 't', ['у'] = 'y', ['х'] = 'x',
        ['ѕ'] = 's', ['ԁ'] = 'd', ['ԛ'] = 'q', ['ԝ'] = 'w', ['һ'] = 'h', ['ӏ'] = 'l', ['ɡ'] = 'g', ['ı'] = 'i',
        ['α'] = 'a', ['β'] = 'b', ['ε'] = 'e', ['ζ'] = 'z', ['η'] = 'n', ['ι'] = 'i', ['κ'] = 'k', ['μ'] = 'm', ['ν'] = 'v',
        ['ο'] = 'o', ['ρ'] = 'p', ['τ'] = 't', ['υ'] = 'u', ['χ'] = 'x', ['γ'] = 'y', ['ϲ'] = 'c', ['ϳ'] = 'j',
        ['0'] = 'o', ['1'] = 'l',
    };

    /// <summary>The letters a reader sees: full-width forms folded, marks, separators and invisible characters dropped, look-alikes mapped, lower case.</summary>
    public static string Skeleton(string name)
    {
        var text = name.ToLowerInvariant();
        var result = new StringBuilder(text.Length);
        foreach (var wide in text)
        {
            // Full-width ASCII (U+FF01–U+FF5E) is ASCII shifted by 0xFEE0.
            var c = wide is >= '\uFF01' and <= '\uFF5E' ? (char)(wide - 0xFEE0) : wide;
            var category = CharUnicodeInfo.GetUnicodeCategory(c);
            if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
                || !char.IsLetterOrDigit(c))
            {
                continue;
            }

            result.Append(Lookalikes.TryGetValue(c, out var latin) ? latin : char.ToLowerInvariant(c));
        }

        return result.ToString();
    }

    /// <summary>True when <paramref name="name"/> (not <paramref name="member"/> itself) is a near miss of <paramref name="member"/>.</summary>
    public static bool IsNearMiss(string name, string member)
    {
        if (string.Equals(name, member, StringComparison.Ordinal))
        {
            return false;
        }

        var a = Skeleton(name);
        var b = Skeleton(member);
        if (a.Length == 0)
        {
            return false;
        }

        // A typo or two: one edit in a short name (mode), two in a middling one (status, expiry), three in a long one.
        var allowed = b.Length <= 4 ? 1 : b.Length <= 8 ? 2 : 3;
        return Math.Abs(a.Length - b.Length) <= allowed && Distance(a, b) <= allowed;
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    /// <summary>A member name as a reason shows it: characters outside printable ASCII as <c>\uXXXX</c>, so an invisible or look-alike one can be seen.</summary>
    public static string Visible(string name)
    {
        var result = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            if (c is >= ' ' and <= '~')
            {
                result.Append(c);
            }
            else
            {
                result.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
        }

        return result.ToString();
    }
}
