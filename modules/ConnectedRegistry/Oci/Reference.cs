using System.Diagnostics.CodeAnalysis;

namespace ConnectedRegistry.Oci;

/// <summary>The <c>&lt;reference&gt;</c> of a manifest URL: a tag or a digest.</summary>
public readonly record struct Reference
{
    private Reference(string? tag, Digest? digest)
    {
        Tag = tag;
        Digest = digest;
    }

    public string? Tag { get; }

    public Digest? Digest { get; }

    public bool IsDigest => Digest is not null;

    public override string ToString() => Tag ?? Digest!.Value.ToString();

    public static Reference FromTag(string tag) => new(tag, null);

    public static Reference FromDigest(Digest digest) => new(null, digest);

    /// <summary>A digest when the text contains a colon (and is a valid digest), else a tag (when valid).</summary>
    public static bool TryParse([NotNullWhen(true)] string? value, out Reference reference)
    {
        reference = default;
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        if (Oci.Digest.LooksLikeDigest(value))
        {
            if (!Oci.Digest.TryParse(value, out var digest))
            {
                return false;
            }

            reference = FromDigest(digest);
            return true;
        }

        if (!Oci.Tag.IsValid(value))
        {
            return false;
        }

        reference = FromTag(value);
        return true;
    }
}
