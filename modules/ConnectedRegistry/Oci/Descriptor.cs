namespace ConnectedRegistry.Oci;

/// <summary>An OCI content descriptor (the fields the registry uses).</summary>
public sealed record Descriptor(
    string MediaType,
    Digest Digest,
    long Size,
    string? ArtifactType = null,
    IReadOnlyDictionary<string, string>? Annotations = null,
    IReadOnlyList<string>? Urls = null,
    DescriptorPlatform? Platform = null);
