namespace ConnectedRegistry.Core;

/// <summary>What the last desired document did: reported as <c>lastDesiredVersion</c> and <c>lastDesiredStatus</c>.</summary>
public sealed record DesiredStatus(long Version, int Code, string Description)
{
    public static DesiredStatus Initial { get; } = new(0, 503, $"{RegistrySettingsStore.NoDocumentYet}: every request but /v2/ answers 503 until a document applies");

    /// <summary>The start of a rejection's description while earlier settings run.</summary>
    public const string KeptPrefix = "rejected, the last good settings stay in force: ";

    /// <summary>The start of a rejection's description while no settings were ever applied.</summary>
    public const string NothingAppliedPrefix = "rejected, no settings are in force yet, so every request but /v2/ answers 503: ";
}

/// <summary>
/// The outcome of every desired document, for parts below the twin that count or show it (the metrics): the twin's
/// pipeline is one, registered by the twin.
/// </summary>
public interface IDesiredStatusSource
{
    /// <summary>Raised after every document was processed (applied or rejected), in order.</summary>
    event Action<DesiredStatus>? StatusChanged;
}
