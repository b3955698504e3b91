using System.Text.RegularExpressions;

namespace ConnectedRegistry.Core;

/// <summary>
/// A tag read as a semantic version, for <c>newest</c> in <c>sync.filters</c>: an optional <c>v</c>, MAJOR, MAJOR.MINOR
/// or MAJOR.MINOR.PATCH (missing parts are 0), an optional pre-release and build metadata. Precedence is SemVer 2.0's:
/// a pre-release sorts below its release, its identifiers compare numerically when both are numeric, else ordinally,
/// a numeric one below a non-numeric one, and a shorter list below a longer one it begins; build metadata is ignored.
/// </summary>
public sealed partial class TagVersion : IComparable<TagVersion>
{
    private readonly long[] _core;
    private readonly string[] _preRelease;

    private TagVersion(long[] core, string[] preRelease)
    {
        _core = core;
        _preRelease = preRelease;
    }

    /// <summary>The version <paramref name="tag"/> spells; null when it is none (<c>latest</c>, <c>nightly-2026</c>).</summary>
    public static TagVersion? TryParse(string tag)
    {
        var match = Pattern().Match(tag);
        if (!match.Success)
        {
            return null;
        }

        long Part(int group) => match.Groups[group].Success ? long.Parse(match.Groups[group].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return new TagVersion([Part(1), Part(2), Part(3)], match.Groups[4].Success ? match.Groups[4].Value.Split('.') : []);
    }

    public int CompareTo(TagVersion? other)
    {
        if (other is null)
        {
            return 1;
        }

        for (var i = 0; i < _core.Length; i++)
        {
            if (_core[i].CompareTo(other._core[i]) is var c and not 0)
            {
                return c;
            }
        }

        if (_preRelease.Length == 0 || other._preRelease.Length == 0)
        {
            return other._preRelease.Length.CompareTo(_preRelease.Length); // the release ranks above its pre-releases
        }

        for (var i = 0; i < Math.Min(_preRelease.Length, other._preRelease.Length); i++)
        {
            if (CompareIdentifier(_preRelease[i], other._preRelease[i]) is var c and not 0)
            {
                return c;
            }
        }

        return _preRelease.Length.CompareTo(other._preRelease.Length);
    }

    /// <summary>
    /// <paramref name="tags"/> from newest to oldest: versions by precedence, newest first (equal ones, such as <c>v1</c>
    /// and <c>1.0.0</c>, in the order given), then the tags that are no versions in the order given, as older than every
    /// version. The order given is the parent's tag list.
    /// </summary>
    public static IEnumerable<string> NewestFirst(IEnumerable<string> tags)
    {
        var ranked = tags.Select((tag, index) => (Tag: tag, Index: index, Version: TryParse(tag))).ToList();
        return ranked.Where(t => t.Version is not null).OrderByDescending(t => t.Version).ThenBy(t => t.Index)
            .Concat(ranked.Where(t => t.Version is null))
            .Select(t => t.Tag);
    }

    private static int CompareIdentifier(string a, string b)
    {
        var aNumeric = a.All(char.IsAsciiDigit);
        var bNumeric = b.All(char.IsAsciiDigit);
        if (aNumeric && bNumeric)
        {
            a = a.TrimStart('0');
            b = b.TrimStart('0');
            return a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b);
        }

        return aNumeric ? -1 : bNumeric ? 1 : Math.Sign(string.CompareOrdinal(a, b));
    }

    [GeneratedRegex(@"^[vV]?(\d{1,18})(?:\.(\d{1,18})(?:\.(\d{1,18}))?)?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
