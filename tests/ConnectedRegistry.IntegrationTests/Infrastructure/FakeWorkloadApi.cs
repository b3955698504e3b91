using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>The IoT Edge workload API on a Unix socket (real Kestrel): signs with the module key, serves the trust bundle.</summary>
public sealed class FakeWorkloadApi : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _folder;
    private int _signRequests;
    private int _trustBundleRequests;
    private int _failNextSigns;
    private int _certificateRequests;
    private volatile bool _refuseCertificates;

    private FakeWorkloadApi(WebApplication app, string folder, string socketPath)
    {
        _app = app;
        _folder = folder;
        SocketPath = socketPath;
    }

    public string SocketPath { get; }

    public string Uri => "unix://" + SocketPath;

    public int SignRequests => Volatile.Read(ref _signRequests);

    public int TrustBundleRequests => Volatile.Read(ref _trustBundleRequests);

    public int CertificateRequests => Volatile.Read(ref _certificateRequests);

    /// <summary>While true, server certificate requests are refused with 403 (as the daemon refuses a module it does not know).</summary>
    public bool RefuseCertificates
    {
        get => _refuseCertificates;
        set => _refuseCertificates = value;
    }

    /// <summary>The next <paramref name="count"/> sign requests answer 500 (the client must retry).</summary>
    public void FailNextSigns(int count) => Volatile.Write(ref _failNextSigns, count);

    public static async Task<FakeWorkloadApi> StartAsync(string moduleId, string generationId, byte[] moduleKey, string trustBundlePem, TestPki? issuer = null)
    {
        var folder = TempDirectory.Create("wl");
        var socketPath = Path.Combine(folder, "workload.sock");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(socketPath));
        var app = builder.Build();
        FakeWorkloadApi? self = null;

        app.MapPost("/modules/{module}/genid/{generation}/sign", async (HttpContext context, string module, string generation) =>
        {
            Interlocked.Increment(ref self!._signRequests);
            if (context.Request.Query["api-version"] != "2018-06-28")
            {
                return Results.Json(new { message = "api-version required" }, statusCode: 400);
            }

            if (module != moduleId || generation != generationId)
            {
                return Results.Json(new { message = "module not found" }, statusCode: 404);
            }

            if (Interlocked.Decrement(ref self._failNextSigns) >= 0)
            {
                return Results.Json(new { message = "temporarily unavailable" }, statusCode: 500);
            }

            using var reader = new StreamReader(context.Request.Body);
            var body = JObject.Parse(await reader.ReadToEndAsync());
            if (body["keyId"]?.Value<string>() != "primary" || body["algo"]?.Value<string>() != "HMACSHA256")
            {
                return Results.Json(new { message = "bad request" }, statusCode: 400);
            }

            var data = Convert.FromBase64String(body["data"]!.Value<string>()!);
            return Results.Json(new { digest = Convert.ToBase64String(HMACSHA256.HashData(moduleKey, data)) });
        });
        app.MapPost("/modules/{module}/genid/{generation}/certificate/server", async (HttpContext context, string module, string generation) =>
        {
            Interlocked.Increment(ref self!._certificateRequests);
            if (self._refuseCertificates)
            {
                return Results.Json(new { message = "certificate issuance refused" }, statusCode: 403);
            }

            if (issuer is null || module != moduleId || generation != generationId || context.Request.Query["api-version"] != "2019-01-30")
            {
                return Results.Json(new { message = "not found" }, statusCode: 404);
            }

            using var reader = new StreamReader(context.Request.Body);
            var body = JObject.Parse(await reader.ReadToEndAsync());
            // As the edge security daemon does: never past the edge CA's own expiry (the module asks for 30 days).
            var requested = DateTimeOffset.Parse(body["expiration"]!.Value<string>()!, System.Globalization.CultureInfo.InvariantCulture);
            var caExpiry = new DateTimeOffset(issuer.CaWithKey.NotAfter.ToUniversalTime());
            var expiration = requested < caExpiry ? requested : caExpiry;
            var (certificate, key) = issuer.IssueServer(body["commonName"]!.Value<string>()!, expiration);
            return Results.Json(new { privateKey = new { type = "key", bytes = key }, certificate, expiration = expiration.ToString("o") }, statusCode: 201);
        });
        app.MapGet("/trust-bundle", () =>
        {
            Interlocked.Increment(ref self!._trustBundleRequests);
            return Results.Json(new { certificate = trustBundlePem });
        });

        self = new FakeWorkloadApi(app, folder, socketPath);
        await app.StartAsync();

        // As the runtime's module sockets are: reachable by a module whatever user it runs as (a container's app user).
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(socketPath, (UnixFileMode)0x1B6);
        }

        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        TempDirectory.Delete(_folder);
    }
}
