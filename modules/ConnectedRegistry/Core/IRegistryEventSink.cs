using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Core;

/// <summary>
/// Told about every change a client makes through the Distribution API (not about changes sync makes),
/// after the change committed. The sync outbox records these to push them to the parent; the change
/// feed records them for children. Implementations must be quick and must not throw for a client's sake.
/// </summary>
public interface IRegistryEventSink
{
    void ManifestPushed(string repository, Digest digest, string mediaType, string? tag);

    void ManifestDeleted(string repository, Digest digest);

    void TagDeleted(string repository, string tag);
}
