using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// The names inside a bundle: an OCI image layout in a tar (<c>oci-layout</c>, <c>index.json</c>,
/// <c>blobs/&lt;alg&gt;/&lt;hex&gt;</c>) plus the signed descriptor (<c>bundle.json</c>, <c>bundle.sig</c>) at its
/// root, which OCI tools ignore.
/// </summary>
public static class BundleFormat
{
    public const int Version = 1;
    public const string LayoutFile = "oci-layout";
    public const string IndexFile = "index.json";
    public const string DescriptorFile = "bundle.json";
    public const string SignatureFile = "bundle.sig";
    public const string LayoutJson = "{\"imageLayoutVersion\":\"1.0.0\"}";

    /// <summary>The OCI layout's tag annotation: <c>repository:tag</c> here, so one layout holds many repositories (skopeo: <c>oci-archive:FILE:repository:tag</c>).</summary>
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";
    public const string RepositoryAnnotation = "io.edgeconnectedregistry.bundle.repository";
    public const string TagAnnotation = "io.edgeconnectedregistry.bundle.tag";

    /// <summary>The header entries, in the order export writes them (before every blob).</summary>
    public static readonly string[] HeaderEntries = [LayoutFile, IndexFile, DescriptorFile, SignatureFile];

    /// <summary>Largest <c>index.json</c> and <c>bundle.json</c> (the descriptor of a very large sync set stays well below).</summary>
    public const long MaxHeaderBytes = 64L * 1024 * 1024;

    /// <summary>Largest <c>oci-layout</c>: it is one short line (<see cref="LayoutJson"/>), and the signature does not cover it.</summary>
    public const long MaxLayoutBytes = 4096;

    /// <summary>Largest <c>bundle.sig</c>: the base64 of a 64-byte signature is 88 bytes.</summary>
    public const long MaxSignatureBytes = 4096;

    /// <summary>The bound of one header entry, checked before a byte of it is read.</summary>
    public static long MaxBytesOf(string headerEntry) => headerEntry switch
    {
        LayoutFile => MaxLayoutBytes,
        SignatureFile => MaxSignatureBytes,
        _ => MaxHeaderBytes,
    };

    /// <summary>
    /// Largest tar header record of one entry (its 512-byte block plus a pax extended header or GNU long name):
    /// a bundle's names are short and its pax records few, any tar tool's stay within a few KiB.
    /// </summary>
    public const long MaxTarHeaderBytes = 64 * 1024;

    public static string BlobEntry(Digest digest) => $"blobs/{digest.Algorithm}/{digest.Hex}";

    /// <summary>The digest a <c>blobs/&lt;alg&gt;/&lt;hex&gt;</c> entry names, or false for any other name.</summary>
    public static bool TryParseBlobEntry(string name, out Digest digest)
    {
        digest = default;
        var parts = name.Split('/');
        return parts.Length == 3 && parts[0] == "blobs" && Digest.TryParse($"{parts[1]}:{parts[2]}", out digest) && BlobEntry(digest) == name;
    }
}
