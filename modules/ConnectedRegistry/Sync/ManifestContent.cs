using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>A manifest exactly as the parent served it (bytes verified against <see cref="Digest"/>).</summary>
public sealed record ManifestContent(byte[] Bytes, string MediaType, Digest Digest)
{
    /// <summary>What this manifest references, read with the registry's own parser (<see cref="ManifestParser"/>).</summary>
    public ParsedManifest Parse()
    {
        try
        {
            return ManifestParser.Parse(Bytes, MediaType);
        }
        catch (ManifestFormatException ex)
        {
            throw new ParentContentException($"manifest {Digest} from the parent is invalid: {ex.Message}");
        }
    }
}

/// <summary>Head of a manifest: what the parent says it is, without the body.</summary>
public sealed record ManifestInfo(Digest Digest, string MediaType, long Size);
