using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ConnectedRegistry.Tls;

/// <summary>A server certificate with its private key, the intermediates sent with it, and its lifetime as the registry sees it.</summary>
public sealed class ServedCertificate
{
    private ServedCertificate(X509Certificate2 certificate, X509Certificate2Collection intermediates, SslStreamCertificateContext context, DateTimeOffset obtainedAt, DateTimeOffset expires)
    {
        Certificate = certificate;
        Intermediates = intermediates;
        Context = context;
        ObtainedAt = obtainedAt;
        Expires = expires;
    }

    public X509Certificate2 Certificate { get; }

    public X509Certificate2Collection Intermediates { get; }

    /// <summary>What SslStream sends: the certificate and its chain, built once.</summary>
    public SslStreamCertificateContext Context { get; }

    public DateTimeOffset ObtainedAt { get; }

    public DateTimeOffset Expires { get; }

    public static ServedCertificate Create(X509Certificate2 certificate, X509Certificate2Collection intermediates, DateTimeOffset obtainedAt, DateTimeOffset expires) =>
        new(certificate, intermediates, SslStreamCertificateContext.Create(certificate, intermediates, offline: true), obtainedAt, expires);
}
