using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>Open upload sessions are capped per repository, per client and in total, and idle ones go sooner near a cap.</summary>
public sealed class UploadSessionCapTests
{
    private static async Task<HttpResponseMessage> OpenAsync(RegistryInstance registry, string repository) =>
        await registry.Client.PostAsync($"/v2/{repository}/blobs/uploads/", null);

    private const string WriterPassword = "writer-password-1";
    private const string OtherPassword = "other-password-1";

    /// <summary>Two clients that may push anywhere.</summary>
    private static RegistrySettings Writers() => AuthSettings.With(tokens: new()
    {
        ["writer"] = AuthSettings.Token(WriterPassword, new() { ["*"] = [RegistryActions.ContentWrite, RegistryActions.ContentRead] }),
        ["other"] = AuthSettings.Token(OtherPassword, new() { ["*"] = [RegistryActions.ContentWrite, RegistryActions.ContentRead] }),
    });

    private static async Task<HttpResponseMessage> OpenAsAsync(RegistryInstance registry, string repository, string user, string password)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/{repository}/blobs/uploads/") { Content = new ByteArrayContent([]) };
        request.Headers.Authorization = AuthTestRegistry.Basic(user, password);
        return await registry.Client.SendAsync(request);
    }

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
            var maintenance = registry.App.Services.GetRequiredService<StorageMaintenanceService>();
            await Poll.UntilAsync(() => maintenance.Waits >= 1, "the housekeeping loop waiting for its first tick");
            var few = await OpenSessionsAsync(2);
            var waits = maintenance.Waits;
            time.Advance(TimeSpan.FromMinutes(11));
            await Poll.UntilAsync(() => maintenance.Waits > waits, "the housekeeping tick handled and the loop waiting again");
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

    [Fact]
    public async Task One_client_cannot_take_every_session_others_still_open_theirs()
    {
        var registry = await RegistryInstance.StartAsync(extraArgs: ["--upload-max-sessions-per-client", "5"]);
        try
        {
            registry.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(Writers());
            using (var signIn = new HttpRequestMessage(HttpMethod.Get, "/v2/"))
            {
                // Signed in once first, so the burst below meets only the session caps, not the password check's queue.
                signIn.Headers.Authorization = AuthTestRegistry.Basic("writer", WriterPassword);
                Assert.Equal(HttpStatusCode.OK, (await registry.Client.SendAsync(signIn)).StatusCode);
            }

            // Spread over repositories (each far from its own cap of 100), one client gets five sessions, never a sixth.
            var burst = await Task.WhenAll(Enumerable.Range(0, 15).Select(i => OpenAsAsync(registry, $"spread/r{i % 5}", "writer", WriterPassword)));
            Assert.Equal(5, burst.Count(r => r.StatusCode == HttpStatusCode.Accepted));
            await AssertTooManyAsync(burst.First(r => r.StatusCode != HttpStatusCode.Accepted), "'writer' has 5 open upload sessions");

            // Every other client still opens sessions, in the same repositories too.
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(HttpStatusCode.Accepted, (await OpenAsAsync(registry, $"spread/r{i}", "other", OtherPassword)).StatusCode);
            }

            // Finishing one of its own frees a place for the client.
            var session = burst.First(r => r.StatusCode == HttpStatusCode.Accepted).Headers.Location!.OriginalString;
            using var cancel = new HttpRequestMessage(HttpMethod.Delete, session);
            cancel.Headers.Authorization = AuthTestRegistry.Basic("writer", WriterPassword);
            Assert.Equal(HttpStatusCode.NoContent, (await registry.Client.SendAsync(cancel)).StatusCode);
            Assert.Equal(HttpStatusCode.Accepted, (await OpenAsAsync(registry, "spread/r9", "writer", WriterPassword)).StatusCode);
        }
        finally
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }

    [Fact]
    public async Task Idle_sessions_of_a_client_near_its_own_cap_are_purged_after_minutes()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var registry = await RegistryInstance.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton<TimeProvider>(time);
            builder.Services.AddSingleton(new StorageOptions { StatusInterval = TimeSpan.FromSeconds(30), UploadMaxSessionsPerClient = 10 });
        });
        try
        {
            registry.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(Writers());
            var sessions = new List<string>();
            for (var i = 0; i < 8; i++)
            {
                using var response = await OpenAsAsync(registry, $"idle/r{i}", "writer", WriterPassword);
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                sessions.Add(response.Headers.Location!.OriginalString);
            }

            async Task<int> OpenCountAsync() => (await Task.WhenAll(sessions.Select(async s =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, s);
                request.Headers.Authorization = AuthTestRegistry.Basic("writer", WriterPassword);
                using var response = await registry.Client.SendAsync(request);
                return response.StatusCode;
            }))).Count(s => s == HttpStatusCode.NoContent);

            // 8 of the client's 10, far from the total (1000) and from each repository's cap (100): near a cap all the same.
            time.Advance(TimeSpan.FromMinutes(11));
            await Poll.UntilAsync(
                async () =>
                {
                    if (await OpenCountAsync() == 0)
                    {
                        return true;
                    }

                    time.Advance(TimeSpan.FromSeconds(30));
                    return false;
                },
                "the client's idle sessions purged");
        }
        finally
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }

    [Fact]
    public async Task A_database_from_before_session_owners_is_upgraded_in_place_and_its_sessions_kept()
    {
        // registry.db as the previous version wrote it: an uploads table without an owner, one session open.
        var dataRoot = TempDirectory.Create("registry");
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataRoot, "registry.db")};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                CREATE TABLE schema_info(version INTEGER NOT NULL);
                INSERT INTO schema_info(version) VALUES (1);
                CREATE TABLE repositories(name TEXT PRIMARY KEY, created INTEGER NOT NULL);
                INSERT INTO repositories(name, created) VALUES ('old/app', 0);
                CREATE TABLE uploads(id TEXT PRIMARY KEY, repository TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);
                """;
            command.ExecuteNonQuery();
            command.CommandText = "INSERT INTO uploads(id, repository, created, updated) VALUES ($id, 'old/app', $now, $now)";
            command.Parameters.AddWithValue("$id", new string('a', 32));
            command.Parameters.AddWithValue("$now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }

        Directory.CreateDirectory(Path.Combine(dataRoot, "uploads", new string('a', 32)));
        await File.WriteAllBytesAsync(Path.Combine(dataRoot, "uploads", new string('a', 32), "data"), [1, 2, 3]);
        var registry = await RegistryInstance.StartAsync(dataRoot);
        try
        {
            registry.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(Writers());
            Assert.Equal(HttpStatusCode.Accepted, (await OpenAsAsync(registry, "old/app", "writer", WriterPassword)).StatusCode);
            using var status = new HttpRequestMessage(HttpMethod.Get, $"/v2/old/app/blobs/uploads/{new string('a', 32)}");
            status.Headers.Authorization = AuthTestRegistry.Basic("writer", WriterPassword);
            using var response = await registry.Client.SendAsync(status);
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
            Assert.Equal("0-2", response.Headers.GetValues("Range").Single());
        }
        finally
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }
}
