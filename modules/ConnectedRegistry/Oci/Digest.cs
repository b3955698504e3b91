using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace ConnectedRegistry.Oci;

/// <summary>
/// A content digest (<c>algorithm:hex</c>). Only sha256 and sha512 are accepted, with lower-case
/// hex of exactly the algorithm's length, so a digest is always safe to use as a file name.
/// </summary>
public readonly record struct Digest
{
    public const string Sha256 = "sha256";
    public const string Sha512 = "sha512";

    private Digest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    public string Algorithm { get; }

    public string Hex { get; }

    public override string ToString() => Algorithm + ":" + Hex;

    public static bool TryParse([NotNullWhen(true)] string? value, out Digest digest)
    {
        digest = default;
        if (string.IsNullOrEmpty(value))
        {
            return false;
        }

        var colon = value.IndexOf(':');
        if (colon <= 0)
        {
            return false;
        }

        var algorithm = value[..colon];
        var hex = value[(colon + 1)..];
        var expectedLength = algorithm switch
        {
            Sha256 => 64,
            Sha512 => 128,
            _ => -1,
        };
        if (expectedLength < 0 || hex.Length != expectedLength)
        {
            return false;
        }

        foreach (var c in hex)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        digest = new Digest(algorithm, hex);
        return true;
    }

    /// <summary>True when the text has the general digest shape (<c>alg:encoded</c>), even for an algorithm we do not support.</summary>
    public static bool LooksLikeDigest(string value) => value.Contains(':', StringComparison.Ordinal);

    public static Digest Parse(string value) =>
        TryParse(value, out var d) ? d : throw new FormatException("invalid digest");

    public static Digest FromHash(string algorithm, byte[] hash) =>
        new(algorithm, Convert.ToHexStringLower(hash));

    public static Digest Compute(ReadOnlySpan<byte> content, string algorithm = Sha256) => algorithm switch
    {
        Sha512 => FromHash(Sha512, SHA512.HashData(content)),
        _ => FromHash(Sha256, SHA256.HashData(content)),
    };

    public IncrementalHash CreateHasher() => CreateHasher(Algorithm);

    public static IncrementalHash CreateHasher(string algorithm) => algorithm switch
    {
        Sha512 => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
        _ => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
    };
}
