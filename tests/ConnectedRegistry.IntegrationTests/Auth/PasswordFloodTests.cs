using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>
/// A flood of Basic logins from one address that names no client (loopback is a trusted proxy by default and sends
/// no <c>X-Forwarded-For</c> here, as the stock API proxy) must not starve the rest: unknown names cost no password
/// hash, the hash runs on a bounded share of the CPU, and requests that need no password keep their latency.
/// </summary>
public class PasswordFloodTests
{
    private const string Password = "line-password-1";

    private static RegistrySettings Settings() => With(
        tokens: new() { ["line-puller"] = Token(Password, new() { ["factory/*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }) },
        anonymousPull: true);

    private static async Task<(HttpStatusCode Status, double Ms)> TimedAsync(HttpClient client, string path, AuthenticationHeaderValue? auth)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = auth;
        var watch = Stopwatch.StartNew();
        using var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        return (response.StatusCode, watch.Elapsed.TotalMilliseconds);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    [Fact]
    public async Task Unknown_names_run_no_password_hash_yet_answer_as_slowly_as_a_wrong_password()
    {
        await using var registry = await AuthTestRegistry.StartAsync(Settings(), new AuthOptions { MaxFailuresPerWindow = 1000 });
        var verifier = registry.Instance.App.Services.GetRequiredService<CredentialVerifier>();
        using var client = new HttpClient { BaseAddress = registry.Instance.BaseAddress };

        var known = new List<double>();
        for (var i = 0; i < 7; i++)
        {
            var (status, ms) = await TimedAsync(client, "/v2/", AuthTestRegistry.Basic("line-puller", "wrong-" + i));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            known.Add(ms);
        }

        var runsForKnown = verifier.KdfRuns;
        Assert.Equal(7, runsForKnown);

        var unknown = new List<double>();
        for (var i = 0; i < 7; i++)
        {
            var (status, ms) = await TimedAsync(client, "/v2/", AuthTestRegistry.Basic("nobody-" + i, "wrong-" + i));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            unknown.Add(ms);
        }

        Assert.Equal(runsForKnown, verifier.KdfRuns);
        var ratio = Median(unknown) / Median(known);
        Assert.True(ratio is > 0.5 and < 2, $"unknown name p50 {Median(unknown):F0} ms, wrong password p50 {Median(known):F0} ms");
    }

    [Fact]
    public async Task Password_checks_run_one_at_a_time_per_two_cores_and_a_full_queue_is_a_fast_429()
    {
        // Each 127.0.0.x is a client of its own (no proxy trusted), so no address or name limit stops the flood first.
        await using var registry = await AuthTestRegistry.StartAsync(Settings(), new AuthOptions { TrustedProxies = TrustedProxies.None });
        var verifier = registry.Instance.App.Services.GetRequiredService<CredentialVerifier>();
        var clients = Enumerable.Range(2, 24).Select(i => LoopbackClient.From($"127.0.0.{i}", registry.Instance.BaseAddress)).ToList();
        try
        {
            // Every guess is a different password: the same credential checked at once would share one KDF run.
            var answers = await Task.WhenAll(clients.SelectMany((client, c) => Enumerable.Range(0, 3).Select(i => TimedAsync(client, "/v2/", AuthTestRegistry.Basic("line-puller", $"wrong-{c}-{i}")))));

            Assert.InRange(verifier.MaxConcurrentKdfRuns, 1, Math.Max(1, Environment.ProcessorCount / 2));
            Assert.All(answers, a => Assert.Contains(a.Status, new[] { HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests }));
            var busy = answers.Where(a => a.Status == HttpStatusCode.TooManyRequests).ToList();
            Assert.NotEmpty(busy);
            Assert.Equal(answers.Count(a => a.Status == HttpStatusCode.Unauthorized), verifier.KdfRuns);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task Requests_that_need_no_password_keep_their_latency_during_a_flood_of_unknown_names()
    {
        var image = TestContent.Image("flood-pull", layers: 1, layerSize: 256);
        await using var registry = await AuthTestRegistry.StartAsync(Settings(), seed: client => client.PushImageAsync("factory/line", "v1", image));
        using var puller = new HttpClient { BaseAddress = registry.Instance.BaseAddress };
        var bearer = new AuthenticationHeaderValue("Bearer", await registry.AccessTokenAsync("line-puller", Password, "repository:factory/line:pull"));

        async Task<double> PullP50Async()
        {
            var times = new List<double>();
            for (var i = 0; i < 40; i++)
            {
                var (anonymous, anonymousMs) = await TimedAsync(puller, "/v2/factory/line/manifests/v1", null);
                var (withToken, tokenMs) = await TimedAsync(puller, "/v2/factory/line/manifests/v1", bearer);
                Assert.Equal(HttpStatusCode.OK, anonymous);
                Assert.Equal(HttpStatusCode.OK, withToken);
                times.Add(anonymousMs);
                times.Add(tokenMs);
            }

            return Median(times);
        }

        await PullP50Async(); // warm up
        var unloaded = await PullP50Async();

        using var stop = new CancellationTokenSource();
        var flood = Enumerable.Range(0, 32).Select(worker => Task.Run(async () =>
        {
            using var client = new HttpClient { BaseAddress = registry.Instance.BaseAddress };
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var user = $"guess-{worker}-{i}";
                using var request = new HttpRequestMessage(HttpMethod.Get, "/v2/");
                request.Headers.Authorization = AuthTestRegistry.Basic(user, "wrong-" + i);
                using var response = await client.SendAsync(request, CancellationToken.None);
            }
        })).ToList();
        double loaded;
        try
        {
            await Task.Delay(1000);
            loaded = await PullP50Async();
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(flood);
        }

        Assert.True(loaded <= 2 * unloaded + 1, $"pull p50 {loaded:F1} ms during the flood, {unloaded:F1} ms before");
    }
}
