using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ConnectedRegistry.Core;

/// <summary>
/// Server certificate validation against roots this module was given (the IoT Edge CA, a parent's CA file)
/// rather than the machine's trust store: the one check both the parent registry client and the MQTT client use.
/// </summary>
public static class CustomRootTrust
{
    /// <summary>
    /// Accepts a server certificate only when it names the host and chains to one of <paramref name="roots"/>
    /// (revocation not checked: edge CAs publish no revocation lists); the intermediates the server presented help build the chain.
    /// </summary>
    public static bool Validate(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors, X509Certificate2Collection roots)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }
}
