using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>HTTPS clients that trust exactly one root CA, as a device that was given only its edge CA.</summary>
public static class TlsClient
{
    /// <summary>
    /// A client whose only trusted root is <paramref name="root"/>; intermediates must come from the server
    /// (downloads are off). <paramref name="onCertificate"/> sees the certificate the server presented.
    /// </summary>
    public static HttpClient TrustingOnly(X509Certificate2 root, Uri baseAddress, Action<X509Certificate2>? onCertificate = null)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.Add(root);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = policy,
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is not null)
                    {
                        onCertificate?.Invoke(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                    }

                    return errors == SslPolicyErrors.None;
                },
            },
        };
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Opens a new TLS connection, GETs /v2/ (must succeed) and returns the certificate the server presented.</summary>
    public static async Task<X509Certificate2> ServedCertificateAsync(Uri baseAddress, X509Certificate2 root)
    {
        X509Certificate2? seen = null;
        using var client = TrustingOnly(root, baseAddress, c => seen = c);
        using var response = await client.GetAsync("/v2/");
        response.EnsureSuccessStatusCode();
        return seen ?? throw new InvalidOperationException("no certificate seen");
    }
}
