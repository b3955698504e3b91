using System.Net;
using System.Text;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Polly.CircuitBreaker;

namespace ConnectedRegistry.IntegrationTests.Sync;

/// <summary>The Bearer token flow, the realm check and retries/circuit breaking, against small real Kestrel servers.</summary>
public sealed class ParentAuthAndResilienceTests
{
    private static readonly ParentCredentials Sync = new("child-sync", "s3cret-pass");

    /// <summary>A parent that wants Bearer tokens from <paramref name="realm"/> and a token endpoint (GET and/or POST).</summary>
    private sealed class TokenParent
    {
        public int TokenGets;
        public int TokenPosts;
        public int AuthorizedCalls;
        public int Challenges;
        public string? LastScope;
        public bool AcceptGet = true;
        public string? Realm;

        public async Task Handle(HttpContext context)
        {
            var request = context.Request;
            if (request.Path == "/token")
            {
                if (request.Method == "GET")
                {
                    Interlocked.Increment(ref TokenGets);
                    if (!AcceptGet)
                    {
                        context.Response.StatusCode = 405;
                        return;
                    }

                    var basic = request.Headers.Authorization.ToString();
                    if (basic != "Basic " + Sync.BasicParameter)
                    {
                        context.Response.StatusCode = 401;
                        return;
                    }

                    LastScope = string.Join(' ', request.Query["scope"].ToArray());
                    await context.Response.WriteAsync("""{"token":"tok-123","expires_in":300}""");
                    return;
                }

                Interlocked.Increment(ref TokenPosts);
                var form = await request.ReadFormAsync();
                if (form["grant_type"] != "password" || form["username"] != Sync.UserName || form["password"] != Sync.Password)
                {
                    context.Response.StatusCode = 401;
                    return;
                }

                LastScope = form["scope"];
                await context.Response.WriteAsync("""{"access_token":"tok-123","expires_in":300}""");
                return;
            }

            if (request.Headers.Authorization.ToString() != "Bearer tok-123")
            {
                Interlocked.Increment(ref Challenges);
                var realm = Realm ?? $"http://{request.Host}/token";
                context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"{realm}\",service=\"parent\",scope=\"repository:app:pull\"";
                context.Response.StatusCode = 401;
                return;
            }

            Interlocked.Increment(ref AuthorizedCalls);
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"name":"app","tags":["a","b"]}""");
        }
    }

    [Fact]
    public async Task Bearer_token_is_fetched_with_basic_credentials_and_cached_per_scope()
    {
        var parent = new TokenParent();
        await using var server = await FakeHttpServer.StartAsync(parent.Handle);
        using var client = ParentClients.Client(server.Address, Sync);

        Assert.Equal(["a", "b"], await client.ListTagsAsync("app", default));
        Assert.Equal(["a", "b"], await client.ListTagsAsync("app", default));
        Assert.Equal(1, parent.TokenGets);
        Assert.Equal(0, parent.TokenPosts);
        Assert.Equal(2, parent.AuthorizedCalls);
        Assert.Equal("repository:app:pull", parent.LastScope);
    }

    [Fact]
    public async Task After_the_first_challenge_the_token_of_a_new_scope_is_fetched_before_its_request()
    {
        var parent = new TokenParent();
        await using var server = await FakeHttpServer.StartAsync(parent.Handle);
        using var client = ParentClients.Client(server.Address, Sync);

        foreach (var repository in new[] { "app", "other", "third" })
        {
            Assert.Equal(["a", "b"], await client.ListTagsAsync(repository, default));
        }

        // One 401 in all (the first request's): the realm and service it named serve every later scope, whose token is
        // fetched up front. Three round trips per new scope became two (three 401s before).
        Assert.Equal(1, parent.Challenges);
        Assert.Equal(3, parent.TokenGets);
        Assert.Equal(3, parent.AuthorizedCalls);
        Assert.Equal("repository:third:pull", parent.LastScope);
    }

    [Fact]
    public async Task Token_endpoint_refusing_get_falls_back_to_oauth2_password_post()
    {
        var parent = new TokenParent { AcceptGet = false };
        await using var server = await FakeHttpServer.StartAsync(parent.Handle);
        using var client = ParentClients.Client(server.Address, Sync);

        Assert.Equal(["a", "b"], await client.ListTagsAsync("app", default));
        Assert.Equal(1, parent.TokenGets);
        Assert.Equal(1, parent.TokenPosts);
        Assert.Equal(1, parent.AuthorizedCalls);
    }

    [Fact]
    public async Task Credentials_are_never_sent_to_a_plain_http_realm_on_another_host()
    {
        var tokenServer = new TokenParent();
        await using var realmHost = await FakeHttpServer.StartAsync(tokenServer.Handle);
        // Same machine, but another host name and port over plain http: not the parent, not https.
        var parent = new TokenParent { Realm = $"http://localhost:{realmHost.Address.Port}/token" };
        await using var server = await FakeHttpServer.StartAsync(parent.Handle);
        using var client = ParentClients.Client(server.Address, Sync);

        var error = await Assert.ThrowsAsync<ParentRegistryException>(() => client.ListTagsAsync("app", default));
        Assert.Equal(HttpStatusCode.Unauthorized, error.Status);
        Assert.Equal(0, tokenServer.TokenGets + tokenServer.TokenPosts);
        Assert.Equal(0, parent.AuthorizedCalls);
    }

    [Fact]
    public async Task Credentials_are_never_sent_in_clear_to_another_host_a_parent_link_points_at()
    {
        var foreignAuthorization = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var foreign = await FakeHttpServer.StartAsync(async context =>
        {
            foreignAuthorization.Enqueue(context.Request.Headers.Authorization.ToString());
            await context.Response.WriteAsync("""{"repositories":["elsewhere"]}""");
        });
        var expected = "Basic " + Sync.BasicParameter;
        await using var server = await FakeHttpServer.StartAsync(async context =>
        {
            if (context.Request.Headers.Authorization.ToString() != expected)
            {
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"parent\"";
                context.Response.StatusCode = 401;
                return;
            }

            // The next page lives on another host over plain http (a hostile or misconfigured parent).
            context.Response.Headers["Link"] = $"<http://localhost:{foreign.Address.Port}/v2/_catalog?last=app&n=100>; rel=\"next\"";
            await context.Response.WriteAsync("""{"repositories":["app"]}""");
        });
        using var client = ParentClients.Client(server.Address, Sync);

        var catalog = await client.CatalogAsync(default);

        Assert.Equal(["app", "elsewhere"], catalog);
        var sent = Assert.Single(foreignAuthorization);
        Assert.Equal(string.Empty, sent);
    }

    [Fact]
    public async Task A_challenge_whose_token_cannot_be_had_releases_its_response()
    {
        // The realm is refused (plain http on another host): the 401 that carried the challenge must still be
        // disposed, or its connection stays taken from the pool.
        await using var server = await FakeHttpServer.StartAsync(async context =>
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"http://localhost:1/token\",service=\"parent\"";
            context.Response.StatusCode = 401;
            await context.Response.WriteAsync("""{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}""");
        });
        var transport = new TrackingTransport(ParentRegistryClient.CreateTransport(ParentClients.FastOptions));
        using var client = new ParentRegistryClient(server.Address, Sync, ParentClients.FastOptions, TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, transport);

        await Assert.ThrowsAsync<ParentRegistryException>(() => client.PingAsync(default));

        var content = Assert.Single(transport.Contents);
        Assert.True(content.Disposed);
    }

    [Fact]
    public async Task A_parents_error_code_and_message_come_back_escaped_and_cut()
    {
        // A parent's words end in logs, the reported sync.lastError and the CLI's stderr: a newline or ESC in them
        // could forge a line there.
        var forged = "denied\nfail: ConnectedRegistry[1] forged line\u001b[2J" + new string('x', 2000);
        var body = new Newtonsoft.Json.Linq.JObject
        {
            ["errors"] = new Newtonsoft.Json.Linq.JArray(new Newtonsoft.Json.Linq.JObject { ["code"] = "BAD\r\nCODE", ["message"] = forged }),
        }.ToString();
        await using var server = await FakeHttpServer.StartAsync(async context =>
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsync(body);
        });
        using var client = new ParentRegistryClient(server.Address, Sync, ParentClients.FastOptions, TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        var error = await Assert.ThrowsAsync<ParentRegistryException>(() => client.PingAsync(default));

        Assert.DoesNotContain('\n', error.Message);
        Assert.DoesNotContain('\r', error.Message);
        Assert.DoesNotContain('\u001b', error.Message);
        Assert.Contains(@"forged line\u001b[2J", error.Message, StringComparison.Ordinal);
        Assert.Equal(@"BAD\r\nCODE", error.Code);
        Assert.True(error.Message.Length < 600, $"{error.Message.Length} characters");
    }

    /// <summary>The real network transport, remembering every response body it handed out and whether it was disposed.</summary>
    private sealed class TrackingTransport(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        public System.Collections.Concurrent.ConcurrentQueue<TrackingContent> Contents { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            var tracked = new TrackingContent(response.Content);
            Contents.Enqueue(tracked);
            response.Content = tracked;
            return response;
        }
    }

    private sealed class TrackingContent : HttpContent
    {
        private readonly HttpContent _inner;

        public TrackingContent(HttpContent inner)
        {
            _inner = inner;
            foreach (var header in inner.Headers)
            {
                Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
        }

        public bool Disposed { get; private set; }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => _inner.CopyToAsync(stream);

        protected override Task<Stream> CreateContentReadStreamAsync() => _inner.ReadAsStreamAsync();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Disposed = true;
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    [Fact]
    public async Task Https_parent_is_trusted_through_the_ca_file_and_an_https_realm_elsewhere_gets_credentials_only_when_the_twin_trusts_its_host()
    {
        using var certificate = FakeHttpServer.SelfSignedCertificate();
        var caFile = Path.Combine(TempDirectory.Create("ca"), "parent-ca.pem");
        await File.WriteAllTextAsync(caFile, certificate.ExportCertificatePem());
        try
        {
            var tokens = new TokenParent();
            await using var realmHost = await FakeHttpServer.StartAsync(tokens.Handle, certificate);
            // The parent (https, 127.0.0.1) sends clients to a realm on another host name, over https.
            var parent = new TokenParent { Realm = $"https://localhost:{realmHost.Address.Port}/token" };
            await using var server = await FakeHttpServer.StartAsync(parent.Handle, certificate);
            Assert.Equal(Uri.UriSchemeHttps, server.Address.Scheme);

            using (var untrusting = ParentClients.Client(server.Address, Sync))
            {
                await Assert.ThrowsAsync<HttpRequestException>(() => untrusting.PingAsync(default));
            }

            // https is not enough: a parent (or whoever answers in its name) must not send the sync token to a host of its choosing.
            using (var unlisted = ParentClients.Client(server.Address, Sync, ParentClients.FastOptions with { CaFile = caFile }))
            {
                var error = await Assert.ThrowsAsync<ParentRegistryException>(() => unlisted.ListTagsAsync("app", default));
                Assert.Equal(HttpStatusCode.Unauthorized, error.Status);
                Assert.Contains("parent.trustedRealmHosts", error.Message, StringComparison.Ordinal);
                Assert.Equal(0, tokens.TokenGets + tokens.TokenPosts);
            }

            using var trusting = ParentClients.Client(server.Address, Sync, ParentClients.FastOptions with { CaFile = caFile, TrustedRealmHosts = ["LOCALHOST"] });
            Assert.Equal(["a", "b"], await trusting.ListTagsAsync("app", default));
            Assert.Equal(1, tokens.TokenGets);
            Assert.Equal(1, parent.AuthorizedCalls);
        }
        finally
        {
            TempDirectory.Delete(Path.GetDirectoryName(caFile)!);
        }
    }

    [Fact]
    public async Task Credentials_are_not_sent_over_https_to_another_host_a_parent_link_points_at_unless_the_twin_trusts_it()
    {
        using var certificate = FakeHttpServer.SelfSignedCertificate();
        var foreignAuthorization = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var foreign = await FakeHttpServer.StartAsync(async context =>
        {
            foreignAuthorization.Enqueue(context.Request.Headers.Authorization.ToString());
            await context.Response.WriteAsync("""{"repositories":["elsewhere"]}""");
        }, certificate);
        var expected = "Basic " + Sync.BasicParameter;
        await using var server = await FakeHttpServer.StartAsync(async context =>
        {
            if (context.Request.Headers.Authorization.ToString() != expected)
            {
                context.Response.Headers.WWWAuthenticate = "Basic realm=\"parent\"";
                context.Response.StatusCode = 401;
                return;
            }

            context.Response.Headers["Link"] = $"<https://localhost:{foreign.Address.Port}/v2/_catalog?last=app&n=100>; rel=\"next\"";
            await context.Response.WriteAsync("""{"repositories":["app"]}""");
        }, certificate);
        var caFile = Path.Combine(TempDirectory.Create("ca"), "parent-ca.pem");
        await File.WriteAllTextAsync(caFile, certificate.ExportCertificatePem());
        try
        {
            using (var client = ParentClients.Client(server.Address, Sync, ParentClients.FastOptions with { CaFile = caFile }))
            {
                Assert.Equal(["app", "elsewhere"], await client.CatalogAsync(default));
                Assert.Equal(string.Empty, Assert.Single(foreignAuthorization));
            }

            using (var client = ParentClients.Client(server.Address, Sync, ParentClients.FastOptions with { CaFile = caFile, TrustedRealmHosts = ["localhost"] }))
            {
                Assert.Equal(["app", "elsewhere"], await client.CatalogAsync(default));
                Assert.Equal(expected, foreignAuthorization.Last());
            }
        }
        finally
        {
            TempDirectory.Delete(Path.GetDirectoryName(caFile)!);
        }
    }

    [Fact]
    public async Task Throttling_and_server_errors_are_retried_honouring_retry_after()
    {
        var calls = 0;
        await using var server = await FakeHttpServer.StartAsync(async context =>
        {
            var n = Interlocked.Increment(ref calls);
            if (n == 1)
            {
                context.Response.StatusCode = 429;
                context.Response.Headers.RetryAfter = "1";
                return;
            }

            if (n == 2)
            {
                context.Response.StatusCode = 503;
                return;
            }

            await context.Response.WriteAsync("""{"name":"app","tags":["x"]}""");
        });
        using var client = ParentClients.Client(server.Address, null, ParentClients.FastOptions with { MaxRetryDelay = TimeSpan.FromSeconds(5) });

        var started = DateTime.UtcNow;
        Assert.Equal(["x"], await client.ListTagsAsync("app", default));
        Assert.Equal(3, calls);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(0.9), "Retry-After of 1 s was not honoured");
    }

    [Fact]
    public async Task Unreachable_parent_opens_the_circuit_and_later_calls_fail_fast()
    {
        var port = DockerRegistry.FreePort(); // nothing listens there
        using var client = ParentClients.Client(new Uri($"http://127.0.0.1:{port}/"), Sync);

        await Assert.ThrowsAnyAsync<Exception>(() => client.PingAsync(default));
        await Assert.ThrowsAsync<BrokenCircuitException>(() => client.PingAsync(default));
    }

    [Fact]
    public async Task Manifest_whose_bytes_do_not_match_the_digest_header_is_rejected()
    {
        var body = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}""");
        await using var server = await FakeHttpServer.StartAsync(async context =>
        {
            context.Response.ContentType = MediaTypes.OciManifest;
            context.Response.Headers["Docker-Content-Digest"] = Digest.Compute("something else"u8).ToString();
            await context.Response.Body.WriteAsync(body);
        });
        using var client = ParentClients.Client(server.Address, null);

        await Assert.ThrowsAsync<ParentContentException>(() => client.GetManifestAsync("app", "v1", default));
        await Assert.ThrowsAsync<ParentContentException>(() => client.GetManifestAsync("app", Digest.Compute("other"u8).ToString(), default));
        var ok = await client.GetManifestAsync("app", Digest.Compute(body).ToString(), default);
        Assert.Equal(body, ok!.Bytes);
    }
}

/// <summary>How the subset is resolved against a parent that does or does not let us list its catalog.</summary>
public sealed class SubsetResolutionTests
{
    private static async Task<IReadOnlyList<string>> ResolveAsync(bool catalogAllowed, RegistrySettings settings)
    {
        await using var server = await FakeHttpServer.StartAsync(async context =>
        {
            if (!catalogAllowed)
            {
                context.Response.StatusCode = 403;
                await context.Response.WriteAsync("""{"errors":[{"code":"DENIED","message":"no catalog for you"}]}""");
                return;
            }

            context.Response.Headers["Link"] = context.Request.Query["last"].Count == 0 ? "</v2/_catalog?n=3&last=c>; rel=\"next\"" : string.Empty;
            await context.Response.WriteAsync(context.Request.Query["last"].Count == 0
                ? """{"repositories":["factory/a","factory/b/c","factoryx"]}"""
                : """{"repositories":["other/d","team/e"]}""");
        });
        var registry = await RegistryInstance.StartAsync();
        try
        {
            using var client = ParentClients.Client(server.Address, null);
            var logger = registry.App.Services.GetRequiredService<ILogger<SyncDown>>();
            return await SyncSet.Of(settings).ResolveAsync(client, logger, default);
        }
        finally
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }

    private static readonly RegistrySettings Settings = new()
    {
        Sync = new SyncSettings { Repositories = ["factory/*", "base", "Not_Valid"] },
        Children = new Dictionary<string, ChildRegistrySettings>
        {
            ["cell"] = new() { SyncTokenPasswordHash = "h", Repositories = ["team/e", "base"] },
        },
    };

    [Fact]
    public async Task Wildcards_resolve_against_every_catalog_page_plus_exact_names_and_children()
    {
        Assert.Equal(["base", "factory/a", "factory/b/c", "team/e"], await ResolveAsync(true, Settings));
    }

    [Fact]
    public async Task Without_catalog_access_only_exact_names_are_synced()
    {
        Assert.Equal(["base", "team/e"], await ResolveAsync(false, Settings));
    }
}
