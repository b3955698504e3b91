using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// A manifest exactly as the parent served it (bytes verified against <see cref="Digest"/>). Its bytes are parsed once,
/// on the first <see cref="Parse"/>: the walk of its references and the store (<see cref="ISyncDestination.PutManifestAsync"/>,
/// which hands the parse and the digest to storage) share that one parse, and the digest computed where the bytes were read.
/// </summary>
public sealed record ManifestContent(byte[] Bytes, string MediaType, Digest Digest)
{
    private ParsedManifest? _parsed;

    /// <summary>What this manifest references, read with the registry's own parser (<see cref="ManifestParser"/>) once.</summary>
    public ParsedManifest Parse()
    {
        if (_parsed is { } parsed)
        {
            return parsed;
        }

        try
        {
            return _parsed = ManifestParser.Parse(Bytes, MediaType);
        }
        catch (ManifestFormatException ex)
        {
            throw new ParentContentException($"manifest {Digest} from the parent is invalid: {ex.Message}");
        }
    }

    // Equal as before the parse was kept: by the bytes (the same array), the media type and the digest.
    public bool Equals(ManifestContent? other) =>
        other is not null && ReferenceEquals(Bytes, other.Bytes) && MediaType == other.MediaType && Digest == other.Digest;

    public override int GetHashCode() => HashCode.Combine(Bytes, MediaType, Digest);
}

/// <summary>Head of a manifest: what the parent says it is, without the body.</summary>
public sealed record ManifestInfo(Digest Digest, string MediaType, long Size);
