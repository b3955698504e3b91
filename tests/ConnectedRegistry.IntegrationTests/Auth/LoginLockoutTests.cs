using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>
/// Failed logins cannot be turned against other clients: behind a proxy that appends <c>X-Forwarded-For</c> each
/// client is limited on its own address, valid bearer tokens and remembered credentials never meet the limiter,
/// the password KDF runs behind one process-wide gate, and concurrent failures never pass a limit. Clients are
/// real HTTP clients bound to their own loopback addresses (127.0.0.x are all local on Linux).
/// </summary>
public class LoginLockoutTests
{
    private const string Password = "line-password-1";
    private const string ToolPassword = "tool-password-1";

    private static RegistrySettings Settings() => With(tokens: new()
    {
        ["line-puller"] = Token(Password, new() { ["factory/*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }),
        ["tool-puller"] = Token(ToolPassword, new() { ["tools"] = [RegistryActions.ContentRead] }),
    });

    private static HttpClient ClientFrom(string local, Uri baseAddress) => LoopbackClient.From(local, baseAddress);

    private static async Task<HttpResponseMessage> TokenAsync(HttpClient client, string user, string password, string scope = "repository:factory/line:pull")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/oauth2/token?service=registry&scope=" + Uri.EscapeDataString(scope));
        request.Headers.Authorization = AuthTestRegistry.Basic(user, password);
        return await client.SendAsync(request);
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path, AuthenticationHeaderValue auth)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = auth;
        return await client.SendAsync(request);
    }

    private static async Task<string> BearerAsync(HttpClient client, string user, string password, string scope)
    {
        using var response = await TokenAsync(client, user, password, scope);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (string)System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!["token"]!;
    }

    [Fact]
    public async Task A_valid_token_behind_a_forwarding_proxy_is_never_refused_after_another_clients_failures()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings(), new AuthOptions { MaxFailuresPerWindow = 3, MaxFailuresPerAddress = 5, OverLimitFailureDelay = TimeSpan.Zero });
        await using var proxy = await ForwardingProxy.StartAsync(registry.Instance.BaseAddress);
        proxy.AppendForwardedFor = true;
        using var attacker = ClientFrom("127.0.0.2", proxy.Address);
        using var device = ClientFrom("127.0.0.3", proxy.Address);

        // Before the flood: the device holds a bearer token, and so does the client that will fail.
        var deviceToken = await BearerAsync(device, "line-puller", Password, "repository:factory/line:pull");
        var attackerToken = await BearerAsync(attacker, "line-puller", Password, "repository:factory/line:pull");

        // One client behind the proxy fails again and again, across names, until it is refused itself.
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 12; i++)
        {
            using var bad = await TokenAsync(attacker, i % 2 == 0 ? "line-puller" : $"guess-{i}", "wrong-" + i);
            statuses.Add(bad.StatusCode);
        }

        Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(7, statuses.Count(s => s == HttpStatusCode.TooManyRequests));

        // Every other client behind the same proxy is untouched: its bearer token, a first login with another token.
        using var bearer = await GetAsync(device, "/v2/factory/line/tags/list", new AuthenticationHeaderValue("Bearer", deviceToken));
        Assert.Equal(HttpStatusCode.NotFound, bearer.StatusCode);
        using var fresh = await TokenAsync(device, "tool-puller", ToolPassword, "repository:tools:pull");
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        using var basic = await GetAsync(device, "/v2/", AuthTestRegistry.Basic("tool-puller", ToolPassword));
        Assert.Equal(HttpStatusCode.OK, basic.StatusCode);

        // Even the failing client's own valid bearer token and remembered credential still work; new guesses are refused.
        using var own = await GetAsync(attacker, "/v2/factory/line/tags/list", new AuthenticationHeaderValue("Bearer", attackerToken));
        Assert.Equal(HttpStatusCode.NotFound, own.StatusCode);
        using var remembered = await GetAsync(attacker, "/v2/", AuthTestRegistry.Basic("line-puller", Password));
        Assert.Equal(HttpStatusCode.OK, remembered.StatusCode);
        using var guess = await TokenAsync(attacker, "tool-puller", "another-guess", "repository:tools:pull");
        Assert.Equal(HttpStatusCode.TooManyRequests, guess.StatusCode);
        Assert.Equal("TOOMANYREQUESTS", await AuthTestRegistry.ErrorCodeAsync(guess));
        Assert.True(guess.Headers.RetryAfter is not null);
    }

    [Fact]
    public async Task A_flood_of_bad_logins_from_many_addresses_runs_the_kdf_behind_one_small_gate()
    {
        // Nothing on loopback is a proxy here, so each 127.0.0.x is a client of its own, as in the probe.
        var options = new AuthOptions
        {
            MaxFailuresPerWindow = 5,
            MaxFailuresPerAddress = 5,
            MaxConcurrentKdfRuns = 2,
            KdfQueueLength = 4,
            OverLimitFailureDelay = TimeSpan.Zero,
            TrustedProxies = TrustedProxies.None,
        };
        await using var registry = await AuthTestRegistry.StartAsync(Settings(), options);
        var verifier = registry.Instance.App.Services.GetRequiredService<CredentialVerifier>();
        var clients = Enumerable.Range(2, 20).Select(i => ClientFrom($"127.0.0.{i}", registry.Instance.BaseAddress)).ToList();
        try
        {
            var answers = await Task.WhenAll(clients.SelectMany((client, c) => Enumerable.Range(0, 8).Select(async i =>
            {
                using var response = await TokenAsync(client, "line-puller", $"wrong-{c}-{i}");
                return response.StatusCode;
            })));

            var refused = answers.Count(s => s == HttpStatusCode.Unauthorized);
            Assert.Equal(160, answers.Length);
            Assert.All(answers, s => Assert.Contains(s, new[] { HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests }));

            // A 401 is one KDF run, never more than each address's limit; over it, one check at a time per address and
            // name (answered 429); never more than 2 runs at a time.
            Assert.InRange(refused, 1, 20 * 5);
            Assert.InRange(verifier.KdfRuns, refused, 160);
            Assert.InRange(verifier.MaxConcurrentKdfRuns, 1, 2);

            // The gate still lets a valid login from a client that did not fail through once the flood is answered.
            using var other = ClientFrom("127.0.0.30", registry.Instance.BaseAddress);
            using var valid = await TokenAsync(other, "tool-puller", ToolPassword, "repository:tools:pull");
            Assert.Equal(HttpStatusCode.OK, valid.StatusCode);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task A_burst_of_concurrent_bad_logins_never_passes_the_limit()
    {
        var options = new AuthOptions { MaxFailuresPerWindow = 50, MaxFailuresPerAddress = 50, TrustedProxies = TrustedProxies.None, KdfQueueLength = 400, KdfQueueTimeout = TimeSpan.FromMinutes(2), OverLimitFailureDelay = TimeSpan.Zero };
        await using var registry = await AuthTestRegistry.StartAsync(Settings(), options);
        using var client = ClientFrom("127.0.0.9", registry.Instance.BaseAddress);
        using var start = new SemaphoreSlim(0);
        var burst = Enumerable.Range(0, 300).Select(async i =>
        {
            await start.WaitAsync();
            using var response = await TokenAsync(client, "line-puller", "wrong-" + i);
            return response.StatusCode;
        }).ToList();
        start.Release(300);
        var answers = await Task.WhenAll(burst);

        Assert.Equal(50, answers.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(250, answers.Count(s => s == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task A_failed_login_logs_the_user_name_escaped()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings());
        var hostile = "evil\r\n2026-01-01 Login succeeded for 'admin'\u001b[31m\0\u2028end";
        using var response = await registry.GetTokenAsync(hostile, "wrong", "repository:factory/line:pull");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var api = await registry.SendAsync(HttpMethod.Get, "/v2/", AuthTestRegistry.Basic(hostile, "wrong"));
        Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);

        var lines = registry.Logs.Lines.Where(l => l.Contains("evil", StringComparison.Ordinal)).ToList();
        Assert.True(lines.Count >= 2, string.Join('\n', registry.Logs.Lines));
        Assert.All(lines, line =>
        {
            Assert.DoesNotContain(line, c => c is '\r' or '\n' or '\u001b' or '\0' or '\u2028');
            Assert.Contains(@"evil\r\n2026-01-01 Login succeeded for 'admin'\u001b[31m\0\u2028end", line, StringComparison.Ordinal);
        });
    }
}
