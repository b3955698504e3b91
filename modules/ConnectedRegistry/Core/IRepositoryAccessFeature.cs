namespace ConnectedRegistry.Core;

/// <summary>
/// Set on the request by Auth/ once the caller is authenticated: what the caller may do per repository.
/// Endpoints that list repositories (<c>_catalog</c>) filter with it; when the feature is absent the
/// request was not subject to authentication (tests of the bare core) and everything is visible.
/// </summary>
public interface IRepositoryAccessFeature
{
    /// <summary>The authenticated identity (token name, child registry name), or null for anonymous.</summary>
    string? Subject { get; }

    /// <summary>True when the caller holds <paramref name="action"/> (for example <c>metadata/read</c>) on <paramref name="repository"/>.</summary>
    bool Can(string repository, string action);
}

public static class RegistryActions
{
    public const string ContentRead = "content/read";
    public const string ContentWrite = "content/write";
    public const string ContentDelete = "content/delete";
    public const string MetadataRead = "metadata/read";
    public const string MetadataWrite = "metadata/write";

    public static readonly IReadOnlyList<string> All = [ContentRead, ContentWrite, ContentDelete, MetadataRead, MetadataWrite];
}
