namespace ConnectedRegistry.Oci;

/// <summary>
/// Which entries of an image index a registry keeps: every entry (<see cref="All"/>), or those whose platform one of
/// the patterns matches. Entries that carry no platform of their own follow what they describe: an attestation
/// (platform <c>unknown/unknown</c> or none, annotation <c>vnd.docker.reference.digest</c> naming another entry) is
/// kept exactly when that entry is; any other entry without a platform (an artifact, a nested index) is kept, and a
/// nested index is filtered in turn at its own level. The index itself is always stored byte for byte.
/// </summary>
public sealed class PlatformFilter
{
    /// <summary>The annotation with which buildx ties an attestation manifest to the image entry it describes.</summary>
    public const string ReferenceDigestAnnotation = "vnd.docker.reference.digest";

    private PlatformFilter(IReadOnlyList<Platform> patterns) => Patterns = patterns;

    /// <summary>Keeps every entry.</summary>
    public static PlatformFilter All { get; } = new([]);

    /// <summary>The patterns; empty for <see cref="All"/>.</summary>
    public IReadOnlyList<Platform> Patterns { get; }

    public bool IsAll => Patterns.Count == 0;

    /// <summary>A filter of <paramref name="patterns"/> (<c>os/arch[/variant]</c>); patterns that do not parse are left out, none left is <see cref="All"/>.</summary>
    public static PlatformFilter Of(IEnumerable<string> patterns)
    {
        var parsed = patterns.Select(p => Platform.TryParse(p, out var platform) ? platform : null).OfType<Platform>().Distinct().ToList();
        return parsed.Count == 0 ? All : new PlatformFilter(parsed);
    }

    /// <summary>The union of <paramref name="filters"/>: every entry one of them keeps.</summary>
    public static PlatformFilter Union(IEnumerable<PlatformFilter> filters)
    {
        var patterns = new List<Platform>();
        foreach (var filter in filters)
        {
            if (filter.IsAll)
            {
                return All;
            }

            patterns.AddRange(filter.Patterns);
        }

        return patterns.Count == 0 ? All : new PlatformFilter([.. patterns.Distinct()]);
    }

    /// <summary>True when an entry with <paramref name="platform"/> is kept (always for <see cref="All"/>).</summary>
    public bool Matches(Platform platform) => IsAll || Patterns.Any(p => p.Matches(platform));

    /// <summary>The entries of an index this filter keeps, and those it leaves out, each in the index's order.</summary>
    public ChildSelection Select(IReadOnlyList<Descriptor> entries)
    {
        if (IsAll)
        {
            return new ChildSelection(entries, []);
        }

        var kept = new HashSet<Digest>();
        foreach (var entry in entries)
        {
            if (DescribedEntry(entry, entries) is null && (Platform.Of(entry.Platform) is not { } platform || platform.IsUnknown || Matches(platform)))
            {
                kept.Add(entry.Digest);
            }
        }

        var selected = new List<Descriptor>();
        var leftOut = new List<Descriptor>();
        foreach (var entry in entries)
        {
            var keep = DescribedEntry(entry, entries) is { } described ? kept.Contains(described) : kept.Contains(entry.Digest);
            (keep ? selected : leftOut).Add(entry);
        }

        return new ChildSelection(selected, leftOut);
    }

    public override string ToString() => IsAll ? "all platforms" : string.Join(", ", Patterns);

    /// <summary>The entry an attestation describes, when it is one (no platform of its own or <c>unknown/unknown</c>) and that entry is in the index.</summary>
    private static Digest? DescribedEntry(Descriptor entry, IReadOnlyList<Descriptor> entries)
    {
        if (Platform.Of(entry.Platform) is { IsUnknown: false })
        {
            return null;
        }

        return entry.Annotations?.GetValueOrDefault(ReferenceDigestAnnotation) is { } text && Digest.TryParse(text, out var digest) && digest != entry.Digest && entries.Any(e => e.Digest == digest)
            ? digest
            : null;
    }
}

/// <summary>The entries of an index a <see cref="PlatformFilter"/> keeps and those it leaves out.</summary>
public sealed record ChildSelection(IReadOnlyList<Descriptor> Selected, IReadOnlyList<Descriptor> LeftOut);
