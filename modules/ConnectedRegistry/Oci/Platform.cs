using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace ConnectedRegistry.Oci;

/// <summary>
/// A platform <c>os/architecture[/variant]</c>, as an index's descriptors carry it and as <c>sync.platforms</c> names
/// it, normalised the way containerd's platform matcher does: architecture aliases (<c>x86_64</c> → <c>amd64</c>,
/// <c>aarch64</c> → <c>arm64</c>), <c>arm64</c> without a variant is <c>v8</c>, <c>arm</c> without one is <c>v7</c>,
/// <c>amd64/v1</c> is plain <c>amd64</c>. A pattern without a variant matches every variant of its architecture.
/// </summary>
public sealed partial record Platform
{
    private Platform(string os, string architecture, string? variant)
    {
        Os = os;
        Architecture = architecture;
        Variant = variant;
    }

    public string Os { get; }

    public string Architecture { get; }

    /// <summary>The normalised variant, or null when the platform has none (a pattern without one matches any).</summary>
    public string? Variant { get; }

    /// <summary>Parses <c>os/architecture[/variant]</c> (lower-case letters, digits, <c>.</c>, <c>_</c>, <c>-</c>).</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out Platform? platform)
    {
        platform = null;
        var parts = text?.Split('/');
        if (parts is not { Length: 2 or 3 } || parts.Any(p => !Part().IsMatch(p)))
        {
            return false;
        }

        platform = new Platform(parts[0], NormalArchitecture(parts[1]), null).WithVariant(parts.Length == 3 ? parts[2] : null, pattern: true);
        return true;
    }

    /// <summary>The platform of an index entry; null when it has none or it is not well formed.</summary>
    public static Platform? Of(DescriptorPlatform? descriptor)
    {
        if (descriptor is null || string.IsNullOrEmpty(descriptor.Os) || string.IsNullOrEmpty(descriptor.Architecture))
        {
            return null;
        }

        var os = descriptor.Os.ToLowerInvariant();
        var architecture = NormalArchitecture(descriptor.Architecture.ToLowerInvariant());
        return new Platform(os, architecture, null).WithVariant(descriptor.Variant?.ToLowerInvariant(), pattern: false);
    }

    /// <summary>True for <c>unknown/unknown</c>: the platform of attestation manifests (buildx), which describe another entry.</summary>
    public bool IsUnknown => Os == "unknown" && Architecture == "unknown";

    /// <summary>True when this pattern selects <paramref name="candidate"/>: same os and architecture, and the same variant unless the pattern has none.</summary>
    public bool Matches(Platform candidate) =>
        Os == candidate.Os && Architecture == candidate.Architecture && (Variant is null || Variant == candidate.Variant);

    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    private Platform WithVariant(string? variant, bool pattern)
    {
        var normal = (Architecture, variant) switch
        {
            ("arm64", null or "" or "8" or "v8") => pattern && variant is null ? null : "v8",
            ("arm", null or "") => pattern ? null : "v7",
            ("arm", { } v) when v.Length > 0 && char.IsDigit(v[0]) => "v" + v,
            ("amd64", "v1") => null,
            (_, "") => null,
            _ => variant,
        };
        return new Platform(Os, Architecture, normal);
    }

    private static string NormalArchitecture(string architecture) => architecture switch
    {
        "x86_64" or "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        _ => architecture,
    };

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex Part();
}

/// <summary>The <c>platform</c> object of an index entry, as written (<see cref="Platform.Of"/> normalises it).</summary>
public sealed record DescriptorPlatform(string? Os, string? Architecture, string? Variant);
