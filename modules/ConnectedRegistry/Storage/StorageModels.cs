using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Storage;

public sealed record BlobInfo(Digest Digest, long Size);

public sealed record StoredManifest(string Repository, Digest Digest, string MediaType, byte[] Content)
{
    public long Size => Content.LongLength;
}

public sealed record TagEntry(string Tag, Digest Digest);

/// <summary>The outcome of storing a manifest: its digest, what it references, and whether it was new.</summary>
public sealed record ManifestPutResult(Digest Digest, ParsedManifest Manifest, bool Created);
