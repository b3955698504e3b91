using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;

namespace ConnectedRegistry.Tls;

/// <summary>
/// The <c>--tls-cert</c>/<c>--tls-key</c> PEM pair: the server certificate first, then its intermediates, and an
/// unencrypted PKCS#8, RSA or EC key. Every failure is a <see cref="TlsConfigurationException"/> naming the option
/// and the file, never holding key material.
/// </summary>
public static class PemCertificateFiles
{
    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");

    /// <summary>Reads a PEM certificate (chain) and its private key; every failure names the option and the file.</summary>
    public static ServedCertificate Load(string certificateFile, string keyFile, DateTimeOffset now)
    {
        var certificatePem = ReadFile(certificateFile, TlsOptions.CertOption);
        var keyPem = ReadFile(keyFile, TlsOptions.KeyOption);
        X509Certificate2Collection chain;
        try
        {
            chain = TrustBundle.FromPem(certificatePem);
        }
        catch (Exception ex) when (ex is InvalidOperationException or CryptographicException or ArgumentException)
        {
            throw new TlsConfigurationException($"{TlsOptions.CertOption}: '{certificateFile}' holds no readable PEM certificate (-----BEGIN CERTIFICATE-----).", ex);
        }

        var leaf = chain[0];
        chain.RemoveAt(0);
        if (leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault() is { } usage
            && !usage.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == ServerAuthentication.Value))
        {
            throw new TlsConfigurationException($"{TlsOptions.CertOption}: the certificate in '{certificateFile}' ({leaf.Subject}) is not for server authentication (its extended key usage lacks serverAuth).");
        }

        if (now > leaf.NotAfter.ToUniversalTime())
        {
            throw new TlsConfigurationException($"{TlsOptions.CertOption}: the certificate in '{certificateFile}' ({leaf.Subject}) expired at {leaf.NotAfter.ToUniversalTime():o}.");
        }

        X509Certificate2 withKey;
        try
        {
            withKey = WithPrivateKey(leaf, keyPem);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            var mismatch = ex.Message.Contains("does not match", StringComparison.OrdinalIgnoreCase);
            throw new TlsConfigurationException(mismatch
                ? $"{TlsOptions.KeyOption}: the private key in '{keyFile}' does not belong to the certificate in '{certificateFile}' ({leaf.Subject})."
                : $"{TlsOptions.KeyOption}: '{keyFile}' holds no readable unencrypted PEM private key (PKCS#8, RSA or EC) for the certificate's {leaf.PublicKey.Oid.FriendlyName} key.", ex);
        }

        return ServedCertificate.Create(withKey, chain, now, new DateTimeOffset(leaf.NotAfter.ToUniversalTime()));
    }

    private static X509Certificate2 WithPrivateKey(X509Certificate2 leaf, string keyPem)
    {
        X509Certificate2 combined;
        if (leaf.GetRSAPublicKey() is { } rsaPublic)
        {
            rsaPublic.Dispose();
            using var rsa = RSA.Create();
            rsa.ImportFromPem(keyPem);
            combined = leaf.CopyWithPrivateKey(rsa);
        }
        else if (leaf.GetECDsaPublicKey() is { } ecPublic)
        {
            ecPublic.Dispose();
            using var ec = ECDsa.Create();
            ec.ImportFromPem(keyPem);
            combined = leaf.CopyWithPrivateKey(ec);
        }
        else
        {
            throw new ArgumentException($"unsupported key algorithm {leaf.PublicKey.Oid.FriendlyName}");
        }

        // Re-import so the key is usable by SslStream on every platform.
        using (combined)
        {
            return X509CertificateLoader.LoadPkcs12(combined.Export(X509ContentType.Pkcs12), null);
        }
    }

    private static string ReadFile(string path, StartupOption option)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TlsConfigurationException($"{option}: the file '{path}' does not exist.", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TlsConfigurationException($"{option}: the file '{path}' cannot be read: {ex.Message}", ex);
        }
    }
}
