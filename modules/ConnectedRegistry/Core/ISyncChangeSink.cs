using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Core;

/// <summary>
/// Told about every tag the sync engine moved or removed in this registry (the counterpart of
/// <see cref="IRegistryEventSink"/>, which only hears client changes). The change feed records these so
/// that children learn of content that arrived from above. Implementations must be quick and must not throw.
/// </summary>
public interface ISyncChangeSink
{
    void TagSynced(string repository, string tag, Digest digest);

    void TagRemoved(string repository, string tag);
}
