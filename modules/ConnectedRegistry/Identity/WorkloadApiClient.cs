using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;
using Polly;
using Polly.Retry;

namespace ConnectedRegistry.Identity;

/// <summary>
/// The IoT Edge workload API (HTTP/1.1, usually over a Unix socket): signs SAS strings with the module's
/// key held by the security daemon, and hands out the trust bundle that edgeHub's certificate chains to.
/// Retries server errors and dropped connections (the daemon closes connections beyond 10 at once).
/// </summary>
public sealed class WorkloadApiClient : IDisposable
{
    public const string ApiVersion = "2018-06-28";
    public const string ServerCertificateApiVersion = "2019-01-30";

    private readonly HttpClient _http;
    private readonly ResiliencePipeline _retry;

    public WorkloadApiClient(Uri workloadUri, TimeProvider time)
    {
        HttpMessageHandler handler;
        if (workloadUri.Scheme == "unix")
        {
            var socketPath = workloadUri.LocalPath;
            handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            };
            _http = new HttpClient(handler) { BaseAddress = new Uri("http://workload.sock/") };
        }
        else
        {
            _http = new HttpClient { BaseAddress = new Uri(workloadUri.GetLeftPart(UriPartial.Authority) + "/") };
        }

        _http.Timeout = TimeSpan.FromSeconds(30);
        _retry = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<HttpRequestException>().Handle<IOException>().Handle<WorkloadServerException>(),
                MaxRetryAttempts = 5,
                BackoffType = DelayBackoffType.Exponential,
                Delay = TimeSpan.FromMilliseconds(200),
                UseJitter = true,
            })
            .Build();
    }

    /// <summary>HMAC-SHA256 of <paramref name="data"/> with the module's primary key; returns base64.</summary>
    public Task<string> SignAsync(string moduleId, string generationId, string data, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(async ct =>
        {
            var path = $"modules/{Uri.EscapeDataString(moduleId)}/genid/{Uri.EscapeDataString(generationId)}/sign?api-version={ApiVersion}";
            var body = new JObject
            {
                ["keyId"] = "primary",
                ["algo"] = "HMACSHA256",
                ["data"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(data)),
            };
            using var content = new StringContent(body.ToString(Newtonsoft.Json.Formatting.None), Encoding.UTF8, "application/json");
            using var response = await _http.PostAsync(path, content, ct);
            var text = await ReadAsync(response, "sign", ct);
            return TwinJson.ParseObject(text)["digest"]?.Value<string>() is { Length: > 0 } digest
                ? digest
                : throw new InvalidOperationException("The workload API's sign response has no digest.");
        }, cancellationToken).AsTask();

    /// <summary>The CA certificates edgeHub's server certificate chains to.</summary>
    public Task<X509Certificate2Collection> GetTrustBundleAsync(CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(async ct =>
        {
            using var response = await _http.GetAsync($"trust-bundle?api-version={ApiVersion}", ct);
            var text = await ReadAsync(response, "trust-bundle", ct);
            var pem = TwinJson.ParseObject(text)["certificate"]?.Value<string>()
                ?? throw new InvalidOperationException("The workload API's trust-bundle response has no certificate.");
            return TrustBundle.FromPem(pem);
        }, cancellationToken).AsTask();

    /// <summary>
    /// A server certificate for <paramref name="commonName"/> issued by the edge CA (what edgeHub itself serves
    /// with), so the registry can serve TLS that every module and child device on the edge already trusts.
    /// </summary>
    public Task<WorkloadServerCertificate> CreateServerCertificateAsync(string moduleId, string generationId, string commonName, DateTimeOffset expiration, CancellationToken cancellationToken) =>
        _retry.ExecuteAsync(async ct =>
        {
            var path = $"modules/{Uri.EscapeDataString(moduleId)}/genid/{Uri.EscapeDataString(generationId)}/certificate/server?api-version={ServerCertificateApiVersion}";
            var body = new JObject { ["commonName"] = commonName, ["expiration"] = expiration.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) };
            using var content = new StringContent(body.ToString(Newtonsoft.Json.Formatting.None), Encoding.UTF8, "application/json");
            using var response = await _http.PostAsync(path, content, ct);
            var answer = TwinJson.ParseObject(await ReadAsync(response, "server certificate", ct));
            var keyPem = answer["privateKey"]?["bytes"]?.Value<string>() ?? throw new InvalidOperationException("The workload API's certificate response has no private key.");
            var chainPem = answer["certificate"]?.Value<string>() ?? throw new InvalidOperationException("The workload API's certificate response has no certificate.");
            var chain = TrustBundle.FromPem(chainPem);
            using var leaf = X509Certificate2.CreateFromPem(chainPem, keyPem);
            // Re-import so the key is usable by SslStream on every platform.
            var withKey = X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
            var expires = DateTimeOffset.TryParse(answer["expiration"]?.Value<string>(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed)
                ? parsed
                : new DateTimeOffset(withKey.NotAfter.ToUniversalTime());
            chain.RemoveAt(0);
            return new WorkloadServerCertificate(withKey, chain, expires);
        }, cancellationToken).AsTask();

    private static async Task<string> ReadAsync(HttpResponseMessage response, string operation, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            return text;
        }

        var message = TryMessage(text) ?? response.ReasonPhrase ?? "no message";
        if ((int)response.StatusCode >= 500)
        {
            throw new WorkloadServerException($"The workload API's {operation} failed with {(int)response.StatusCode}: {message}");
        }

        throw new InvalidOperationException($"The workload API refused {operation} with {(int)response.StatusCode}: {message}"
            + (response.StatusCode == HttpStatusCode.Forbidden ? " (it only answers the module's own container; outside IoT Edge use a connection string)" : string.Empty));
    }

    private static string? TryMessage(string text)
    {
        try
        {
            return TwinJson.Parse(text)["message"]?.Value<string>();
        }
        catch (Newtonsoft.Json.JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();

    private sealed class WorkloadServerException(string message) : Exception(message);
}

/// <summary>A TLS server certificate with its private key, the intermediate certificates above it, and when it expires.</summary>
public sealed record WorkloadServerCertificate(X509Certificate2 Certificate, X509Certificate2Collection Chain, DateTimeOffset Expiration);

/// <summary>Signs through the workload API with the module's identity.</summary>
public sealed class WorkloadSasSigner(WorkloadApiClient client, string moduleId, string generationId) : ISasSigner
{
    public Task<string> SignAsync(string data, CancellationToken cancellationToken) => client.SignAsync(moduleId, generationId, data, cancellationToken);
}

/// <summary>PEM bundles (a concatenation of certificates).</summary>
public static class TrustBundle
{
    public static X509Certificate2Collection FromPem(string pem)
    {
        var collection = new X509Certificate2Collection();
        const string end = "-----END CERTIFICATE-----";
        foreach (var part in pem.Split(end, StringSplitOptions.RemoveEmptyEntries))
        {
            var begin = part.IndexOf("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal);
            if (begin < 0)
            {
                continue;
            }

            collection.Add(X509Certificate2.CreateFromPem(part[begin..] + end));
        }

        if (collection.Count == 0)
        {
            throw new InvalidOperationException("The trust bundle holds no certificate.");
        }

        return collection;
    }
}
