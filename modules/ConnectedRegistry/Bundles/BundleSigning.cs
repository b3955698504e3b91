using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// Exporter keys (ECDSA P-256, from the base library) and the signature of a bundle's descriptor: <c>bundle.sig</c>
/// is the base64 of the IEEE P1363 signature (SHA-256) of <c>bundle.json</c>'s exact bytes.
/// </summary>
public static class BundleSigning
{
    /// <summary><c>bundle keygen</c>: a new key pair as PEM: PKCS#8 private key and SubjectPublicKeyInfo public key.</summary>
    public static (string PrivatePem, string PublicPem, string KeyId) NewKeyPair()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return (key.ExportPkcs8PrivateKeyPem(), key.ExportSubjectPublicKeyInfoPem(), TrustedBundleKey.IdOf(key.ExportSubjectPublicKeyInfo()));
    }

    /// <summary>Reads an exporter's private key (PEM, P-256), or says why not; the key's bytes never appear in the message.</summary>
    public static ECDsa LoadPrivateKey(string pem)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new BundleRefusedException("the key file is not a PEM ECDSA private key");
        }

        if (key.KeySize != 256)
        {
            key.Dispose();
            throw new BundleRefusedException($"the key is ECDSA of {key.KeySize} bits; bundles are signed with P-256");
        }

        try
        {
            key.ExportParameters(true);
        }
        catch (CryptographicException)
        {
            key.Dispose();
            throw new BundleRefusedException("the key file holds a public key; export signs with the private key");
        }

        return key;
    }

    public static string KeyIdOf(ECDsa key) => TrustedBundleKey.IdOf(key.ExportSubjectPublicKeyInfo());

    public static byte[] Sign(ECDsa key, byte[] descriptor) =>
        Encoding.ASCII.GetBytes(Convert.ToBase64String(key.SignData(descriptor, HashAlgorithmName.SHA256)));

    /// <summary>
    /// Checks the signature of <paramref name="descriptor"/>'s exact bytes (bounded, not parsed: nothing of an
    /// unverified descriptor is parsed) against each trusted key and returns the key it verifies with; throws with
    /// the reason when none does. The reason names the key id the descriptor claims, found by a forward scan that
    /// builds nothing (<see cref="ClaimedKeyId"/>).
    /// </summary>
    public static TrustedBundleKey Verify(IReadOnlyList<TrustedBundleKey> trusted, byte[] descriptor, byte[] signature)
    {
        if (trusted.Count == 0)
        {
            throw new BundleRefusedException("no exporter key is trusted (twin bundles.trustedKeys is empty): no bundle is imported");
        }

        byte[] raw;
        try
        {
            raw = Convert.FromBase64String(Encoding.ASCII.GetString(signature).Trim());
        }
        catch (FormatException)
        {
            throw new BundleRefusedException($"{BundleFormat.SignatureFile} is not base64");
        }

        var hash = SHA256.HashData(descriptor);
        foreach (var key in trusted)
        {
            using var ecdsa = key.Open();
            if (ecdsa.VerifyHash(hash, raw))
            {
                return key;
            }
        }

        throw ClaimedKeyId(descriptor) switch
        {
            { } claimed when trusted.Any(k => k.Id == claimed) => new BundleRefusedException(
                $"the signature does not match {BundleFormat.DescriptorFile} for key {claimed}: the bundle was changed after export or signed by another key"),
            { } claimed => new BundleRefusedException($"the bundle is signed by key {claimed}, which is not in bundles.trustedKeys"),
            null => new BundleRefusedException(
                $"the signature of {BundleFormat.DescriptorFile} does not verify with any key of bundles.trustedKeys (and it names no key id)"),
        };
    }

    /// <summary>
    /// The top-level <c>keyId</c> of an unverified descriptor, for a refusal's reason only: a forward scan of the
    /// bounded bytes that allocates nothing but the id itself; null when it is not there, not printable, longer than
    /// 100 characters or the bytes are not JSON.
    /// </summary>
    public static string? ClaimedKeyId(ReadOnlySpan<byte> descriptor)
    {
        try
        {
            var reader = new Utf8JsonReader(descriptor);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isKeyId = reader.ValueTextEquals("keyId"u8);
                if (!reader.Read())
                {
                    return null;
                }

                if (isKeyId)
                {
                    return reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length <= 100 && reader.ValueSpan.IndexOfAnyExceptInRange((byte)0x21, (byte)0x7e) < 0
                        ? reader.GetString()
                        : null;
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }
}
