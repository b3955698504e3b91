using System.Security.Cryptography;
using System.Text;
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

    /// <summary>Checks the signature against the trusted keys; throws with the reason when it does not hold.</summary>
    public static void Verify(IReadOnlyList<TrustedBundleKey> trusted, string keyId, byte[] descriptor, byte[] signature)
    {
        if (trusted.Count == 0)
        {
            throw new BundleRefusedException("no exporter key is trusted (twin bundles.trustedKeys is empty): no bundle is imported");
        }

        var key = trusted.FirstOrDefault(k => k.Id == keyId)
            ?? throw new BundleRefusedException($"the bundle is signed by key {keyId}, which is not in bundles.trustedKeys");
        byte[] raw;
        try
        {
            raw = Convert.FromBase64String(Encoding.ASCII.GetString(signature).Trim());
        }
        catch (FormatException)
        {
            throw new BundleRefusedException($"{BundleFormat.SignatureFile} is not base64");
        }

        using var ecdsa = key.Open();
        if (!ecdsa.VerifyData(descriptor, raw, HashAlgorithmName.SHA256))
        {
            throw new BundleRefusedException($"the signature does not match {BundleFormat.DescriptorFile} for key {keyId}: the bundle was changed after export or signed by another key");
        }
    }
}
