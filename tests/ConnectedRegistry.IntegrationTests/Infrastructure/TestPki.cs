using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>A test edge CA and a server certificate for localhost issued by it, made in memory.</summary>
public sealed class TestPki
{
    private TestPki(X509Certificate2 ca, X509Certificate2 caWithKey, X509Certificate2 server, X509Certificate2? root = null)
    {
        Ca = ca;
        CaWithKey = caWithKey;
        Server = server;
        Root = root ?? ca;
    }

    /// <summary>The trust anchor: <see cref="Ca"/> itself, or the root above it for an intermediate CA.</summary>
    public X509Certificate2 Root { get; }

    /// <summary>PEM of the server certificate followed by the issuing CA when that is an intermediate (what a server must send).</summary>
    public string ServerChainPem => Server.ExportCertificatePem() + "\n" + (Root == Ca ? string.Empty : CaPem);

    public string ServerKeyPem => Server.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem() + "\n";

    /// <summary>
    /// An intermediate CA issued by this CA (as an edge CA below the owner's root), with its own localhost
    /// server certificate; <see cref="Root"/> stays this CA.
    /// </summary>
    public TestPki IssueIntermediate(string name)
    {
        var now = DateTimeOffset.UtcNow;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(CaWithKey, true, false));
        using var issued = request.Create(CaWithKey, now.AddHours(-2), CaWithKey.NotAfter.AddMinutes(-1), RandomNumberGenerator.GetBytes(12));
        using var withKey = issued.CopyWithPrivateKey(key);
        var intermediateWithKey = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        var intermediate = X509CertificateLoader.LoadCertificate(intermediateWithKey.RawData);
        return new TestPki(intermediate, intermediateWithKey, IssueLocalhost(intermediateWithKey, now), Root);
    }

    /// <summary>Another localhost server certificate from the same CA (a renewed certificate: new key, new serial).</summary>
    public TestPki WithNewServer() => new(Ca, CaWithKey, IssueLocalhost(CaWithKey, DateTimeOffset.UtcNow), Root);

    /// <summary>The CA with its private key, to issue more certificates (the workload API's server certificates).</summary>
    public X509Certificate2 CaWithKey { get; }

    public X509Certificate2 Ca { get; }

    /// <summary>Server certificate (with private key) for localhost and 127.0.0.1, chained to <see cref="Ca"/>.</summary>
    public X509Certificate2 Server { get; }

    public string CaPem => Ca.ExportCertificatePem() + "\n";

    /// <summary>Issues a server certificate for <paramref name="commonName"/> (and <paramref name="address"/>), as the edge security daemon does.</summary>
    public (string CertificatePem, string KeyPem) IssueServer(string commonName, DateTimeOffset notAfter, IPAddress? address = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(commonName);
        if (address is not null)
        {
            san.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var issued = request.Create(CaWithKey, DateTimeOffset.UtcNow.AddMinutes(-5), notAfter, RandomNumberGenerator.GetBytes(12));
        return (issued.ExportCertificatePem() + "\n" + CaPem, key.ExportPkcs8PrivateKeyPem());
    }

    public static TestPki Create(string caName = "Test Edge CA")
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN={caName}", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        var caWithKey = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(2));
        var ca = X509CertificateLoader.LoadCertificate(caWithKey.RawData);

        var server = IssueLocalhost(caWithKey, now);
        return new TestPki(ca, caWithKey, server);
    }

    private static X509Certificate2 IssueLocalhost(X509Certificate2 caWithKey, DateTimeOffset now)
    {
        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        serverRequest.CertificateExtensions.Add(san.Build());
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        serverRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caWithKey, true, false));
        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = serverRequest.Create(caWithKey, now.AddHours(-1), now.AddDays(1), serial);
        using var withKey = issued.CopyWithPrivateKey(serverKey);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }
}
