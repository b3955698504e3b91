using System.Security.Cryptography;

namespace ConnectedRegistry.Core;

/// <summary>Twin <c>bundles</c>: the exporter keys whose signed bundles this registry imports (none: no import).</summary>
public sealed record BundleSettings
{
    public const int MaxTrustedKeys = 20;

    public IReadOnlyList<TrustedBundleKey> TrustedKeys { get; init; } = [];
}

/// <summary>
/// An exporter's public key (ECDSA P-256, as a DER SubjectPublicKeyInfo). The one rule for what a trusted key is:
/// PEM (<c>-----BEGIN PUBLIC KEY-----</c>) or bare base64 of the SubjectPublicKeyInfo, of an ECDSA key on P-256.
/// Its <see cref="Id"/> (<c>sha256:</c> of the SubjectPublicKeyInfo) names it in a bundle's descriptor.
/// </summary>
public sealed record TrustedBundleKey
{
    private TrustedBundleKey(string id, string subjectPublicKeyInfo)
    {
        Id = id;
        SubjectPublicKeyInfo = subjectPublicKeyInfo;
    }

    /// <summary><c>sha256:&lt;hex&gt;</c> of the DER SubjectPublicKeyInfo.</summary>
    public string Id { get; }

    /// <summary>The DER SubjectPublicKeyInfo, base64.</summary>
    public string SubjectPublicKeyInfo { get; }

    /// <summary>The key id of a DER SubjectPublicKeyInfo.</summary>
    public static string IdOf(ReadOnlySpan<byte> subjectPublicKeyInfo) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));

    /// <summary>Reads a trusted key, or says why <paramref name="text"/> is not one.</summary>
    public static bool TryParse(string text, out TrustedBundleKey? key, out string reason)
    {
        key = null;
        var body = text.Trim();
        if (body.StartsWith("-----BEGIN", StringComparison.Ordinal))
        {
            if (!body.StartsWith("-----BEGIN PUBLIC KEY-----", StringComparison.Ordinal))
            {
                reason = "is a PEM block but not a PUBLIC KEY (give the public key that 'bundle keygen' wrote, never the private key)";
                return false;
            }

            body = body.Replace("-----BEGIN PUBLIC KEY-----", string.Empty, StringComparison.Ordinal)
                .Replace("-----END PUBLIC KEY-----", string.Empty, StringComparison.Ordinal);
        }

        body = string.Concat(body.Where(c => !char.IsWhiteSpace(c)));
        byte[] der;
        try
        {
            der = Convert.FromBase64String(body);
        }
        catch (FormatException)
        {
            reason = "is neither a PEM public key nor base64";
            return false;
        }

        using var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportSubjectPublicKeyInfo(der, out var read);
            if (read != der.Length)
            {
                reason = "has bytes after its SubjectPublicKeyInfo";
                return false;
            }
        }
        catch (CryptographicException)
        {
            reason = "is not an ECDSA SubjectPublicKeyInfo";
            return false;
        }

        if (ecdsa.KeySize != 256 || ecdsa.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            reason = $"is an ECDSA key of {ecdsa.KeySize} bits, not on P-256";
            return false;
        }

        key = new TrustedBundleKey(IdOf(der), Convert.ToBase64String(der));
        reason = string.Empty;
        return true;
    }

    /// <summary>The key, to verify a signature with.</summary>
    public ECDsa Open()
    {
        var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(Convert.FromBase64String(SubjectPublicKeyInfo), out _);
        return ecdsa;
    }
}
