using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace ConnectedRegistry.Oci;

/// <summary>
/// Repository names per the OCI distribution spec grammar:
/// <c>[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*</c>, at most 255 characters.
/// A valid name can never contain <c>..</c> segments, absolute paths or upper case, so it is safe in a path.
/// </summary>
public static partial class RepositoryName
{
    public const int MaxLength = 255;

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    public static bool IsValid([NotNullWhen(true)] string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxLength && NameRegex().IsMatch(name);
}

/// <summary>Tags: <c>[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}</c>.</summary>
public static partial class Tag
{
    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex TagRegex();

    public static bool IsValid([NotNullWhen(true)] string? tag) => !string.IsNullOrEmpty(tag) && TagRegex().IsMatch(tag);
}
