using System.Net;
using System.Text.Json.Nodes;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>Open upload sessions are capped per repository and in total, and idle ones go sooner near a cap.</summary>
public sealed class UploadSessionCapTests
{
    private static async Task<HttpResponseMessage> OpenAsync(RegistryInstance registry, string repository) =>
        await registry.Client.PostAsync($"/v2/{repository}/blobs/uploads/", null);

    private static async Task AssertTooManyAsync(HttpResponseMessage response, string message)
    {
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errors"]![0]!;
        Assert.Equal("TOOMANYREQUESTS", (string)error["code"]!);
        Assert.Contains(message, (string)error["message"]!, StringComparison.Ordinal);
        Assert.True(response.Headers.RetryAfter is not null);
    }

    [Fact]
    public async Task Sessions_past_the_cap_of_a_repository_or_of_the_registry_are_refused_with_toomanyrequests()
    {
        var registry = await RegistryInstance.StartAsync(extraArgs: ["--upload-max-sessions", "5", "--upload-max-sessions-per-repository", "3"]);
        try
        {
            // Concurrent POSTs on one repository: exactly three sessions, never a fourth.
            var burst = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => OpenAsync(registry, "cap/a")));
            Assert.Equal(3, burst.Count(r => r.StatusCode == HttpStatusCode.Accepted));
            await AssertTooManyAsync(burst.First(r => r.StatusCode != HttpStatusCode.Accepted), "repository 'cap/a' has 3 open upload sessions");

            Assert.Equal(HttpStatusCode.Accepted, (await OpenAsync(registry, "cap/b")).StatusCode);
            Assert.Equal(HttpStatusCode.Accepted, (await OpenAsync(registry, "cap/b")).StatusCode);
            await AssertTooManyAsync(await OpenAsync(registry, "cap/c"), "the registry has 5 open upload sessions");

            // Finishing or cancelling a session frees its place; monolithic pushes never needed one.
            var session = burst.First(r => r.StatusCode == HttpStatusCode.Accepted).Headers.Location!.OriginalString;
            Assert.Equal(HttpStatusCode.NoContent, (await registry.Client.DeleteAsync(session)).StatusCode);
            Assert.Equal(HttpStatusCode.Accepted, (await OpenAsync(registry, "cap/c")).StatusCode);
            var blob = new TestBlob(TestContent.Bytes("cap-monolithic", 100), "application/octet-stream");
            Assert.Equal(HttpStatusCode.Created, (await registry.Client.PostAsync($"/v2/cap/d/blobs/uploads/?digest={blob.Digest}", new ByteArrayContent(blob.Bytes))).StatusCode);
            Assert.Equal(5, Directory.GetDirectories(Path.Combine(registry.DataRoot, "uploads")).Length);
        }
        finally
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }

    [Fact]
    public async Task Idle_sessions_are_purged_after_minutes_instead_of_a_day_when_the_cap_is_near()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var registry = await RegistryInstance.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton<TimeProvider>(time);
            builder.Services.AddSingleton(new StorageOptions { StatusInterval = TimeSpan.FromSeconds(30), UploadMaxSessions = 10, UploadMaxSessionsPerRepository = 10 });
        });
        try
        {
            async Task<List<string>> OpenSessionsAsync(int count) =>
                [.. await Task.WhenAll(Enumerable.Range(0, count).Select(async _ => (await OpenAsync(registry, "idle/app")).Headers.Location!.OriginalString))];

            async Task<int> OpenCountAsync(IEnumerable<string> sessions) =>
                (await Task.WhenAll(sessions.Select(s => registry.Client.GetAsync(s)))).Count(r => r.StatusCode == HttpStatusCode.NoContent);

            // Far from the cap: 11 idle minutes are nothing (the age limit is a day).
            var few = await OpenSessionsAsync(2);
            time.Advance(TimeSpan.FromMinutes(11));
            await Task.Delay(1000);
            Assert.Equal(2, await OpenCountAsync(few));

            // Near it (8 of 10): sessions idle for more than 10 minutes go at the next tick.
            var more = await OpenSessionsAsync(6);
            time.Advance(TimeSpan.FromMinutes(11));
            await Poll.UntilAsync(
                async () =>
                {
                    if (await OpenCountAsync([.. few, .. more]) == 0)
                    {
                        return true;
                    }

                    time.Advance(TimeSpan.FromSeconds(30)); // the next housekeeping tick
                    return false;
                },
                "every idle session purged");
            Assert.Equal(HttpStatusCode.Accepted, (await OpenAsync(registry, "idle/app")).StatusCode);
        }
        finally
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }
}
