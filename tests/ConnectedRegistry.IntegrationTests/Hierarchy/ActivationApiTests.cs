using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Twin;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Newtonsoft.Json.Linq;
using static ConnectedRegistry.IntegrationTests.Infrastructure.HierarchyHarness;

namespace ConnectedRegistry.IntegrationTests.Hierarchy;

/// <summary>The parent side of <c>/acr/connected-registry/v1/</c> (and its alias <c>/connected-registry/v1/</c>) spoken to over HTTP, as a child would.</summary>
public sealed class ActivationApiTests
{
    private const string Child = "edge-child-a";
    private const string ChildPassword = "child-a-sync-Passw0rd";

    private static Dictionary<string, ChildRegistrySettings> Children(RegistryMode mode = RegistryMode.ReadOnly) => new()
    {
        [Child] = new() { Mode = mode, SyncTokenPasswordHash = Hash(ChildPassword), Repositories = ["apps/*"] },
    };

    private static async Task<(HttpStatusCode Status, JObject Body, HttpResponseMessage Response)> PostAsync(RegistryInstance parent, string path, AuthenticationHeaderValue? auth, object claim, string prefix = ConnectedRegistry.Hierarchy.HierarchyEndpoints.Prefix)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, prefix + "/" + path)
        {
            Content = new StringContent(JObject.FromObject(claim).ToString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = auth;
        var response = await parent.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JObject.Parse(text), response);
    }

    private static object Claim(string instance, string mode = "ReadOnly", string device = "device-1") =>
        new { instanceId = instance, deviceId = device, moduleId = "registry", generationId = (string?)null, mode };

    private static string ErrorCode(JObject body) => (string)body["errors"]![0]!["code"]!;

    [Fact]
    public async Task Handshake_authenticates_children_records_the_instance_refuses_a_second_one_and_keeps_it_across_a_parent_restart()
    {
        var parent = await StartAsync();
        var dataRoot = parent.DataRoot;
        try
        {
            var settings = ParentSettings("edge-parent", Children());
            parent.Apply(settings);
            var child = Basic(Child, ChildPassword);

            var (status, body, response) = await PostAsync(parent, "activate", null, Claim("instance-x"));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal("UNAUTHORIZED", ErrorCode(body));
            Assert.Contains("realm=\"connected-registry\"", response.Headers.WwwAuthenticate.ToString());
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(parent, "activate", Basic(Child, "wrong-Passw0rd"), Claim("instance-x"))).Status);
            Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(parent, "activate", Basic("edge-unknown", ChildPassword), Claim("instance-x"))).Status);
            (status, body, _) = await PostAsync(parent, "activate", Basic("admin", AdminPassword), Claim("instance-x"));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("DENIED", ErrorCode(body));
            Assert.Equal(ActivationStates.Inactive, parent.State().Children[Child].ActivationState);
            Assert.Null(parent.State().Children[Child].LastSeen);

            (status, body, _) = await PostAsync(parent, "activate", child, Claim("instance-x"));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("Active", (string?)body["activationState"]);
            Assert.Equal(ActivationStates.Active, parent.State().Children[Child].ActivationState);
            Assert.NotNull(parent.State().Children[Child].LastSeen);

            // The same instance again (a restart of the child) is fine; another instance is refused.
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(parent, "activate", child, Claim("instance-x"))).Status);
            (status, body, _) = await PostAsync(parent, "activate", child, Claim("instance-y", device: "device-2"));
            Assert.Equal(HttpStatusCode.Conflict, status);
            Assert.Equal("ALREADY_ACTIVATED", ErrorCode(body));
            // Only that the identity is active elsewhere: never who holds it (the parent's log names the holder).
            Assert.Contains("already active on another instance", (string)body["errors"]![0]!["message"]!);
            Assert.DoesNotContain("device-1", body.ToString());
            Assert.DoesNotContain("instance-x", body.ToString());
            Assert.Null(body["errors"]![0]!["detail"]);
            Assert.DoesNotContain(ChildPassword, body.ToString());

            // The parent restarts on the same data: the identity is still held.
            await parent.DisposeAsync();
            parent = await StartAsync(dataRoot);
            parent.Apply(settings);
            Assert.Equal(ActivationStates.Active, parent.State().Children[Child].ActivationState);
            Assert.Equal(HttpStatusCode.Conflict, (await PostAsync(parent, "activate", child, Claim("instance-y", device: "device-2"))).Status);

            // Only the holder can release it; then the other instance gets it.
            (status, body, _) = await PostAsync(parent, "deactivate", child, Claim("instance-y", device: "device-2"));
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.False((bool)body["released"]!);
            (status, body, _) = await PostAsync(parent, "deactivate", child, Claim("instance-x"));
            Assert.True((bool)body["released"]!);
            Assert.Equal(ActivationStates.Inactive, parent.State().Children[Child].ActivationState);
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(parent, "activate", child, Claim("instance-y", device: "device-2"))).Status);

            // deactivateChild frees it for a replacement device.
            var dispatcher = parent.App.Services.GetRequiredService<DirectMethodDispatcher>();
            var freed = await parent.InvokeAsync("deactivateChild", new JObject { ["name"] = Child });
            Assert.True((bool)freed["wasActive"]!);
            Assert.Equal("device-2", (string?)freed["previousDeviceId"]);
            Assert.Equal(ActivationStates.Inactive, parent.State().Children[Child].ActivationState);
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(parent, "activate", child, Claim("instance-z", device: "device-3"))).Status);
            Assert.Equal(404, (await dispatcher.DispatchAsync("deactivateChild", "{\"name\":\"edge-nobody\"}", default)).Status);
            Assert.Equal(400, (await dispatcher.DispatchAsync("deactivateChild", "{}", default)).Status);

            (status, body, _) = await PostAsync(parent, "activate", child, new { deviceId = "device-3" });
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("REQUEST_INVALID", ErrorCode(body));
        }
        finally
        {
            await parent.DisposeAsync();
            parent.DeleteData();
        }
    }

    [Fact]
    public async Task Ids_that_IoT_Hub_would_not_issue_are_refused_and_nothing_of_them_reaches_a_log_line()
    {
        // A line separator or a right-to-left override in a device id used to be logged raw by the activation log.
        var logs = new LogCapture();
        var parent = await StartAsync(configure: b => b.Logging.SetMinimumLevel(LogLevel.Debug).AddProvider(logs));
        try
        {
            parent.Apply(ParentSettings("edge-parent", Children()));
            var child = Basic(Child, ChildPassword);
            string[] bad = ["device\u2028Child registry admin activated", "evil\u202Etxt.exe", "dev\u2066ice", "dev ice", "dev/ice", "dev\\ice", "dev\u001b[31mice", "dévice", new string('d', 129)];
            foreach (var id in bad)
            {
                foreach (var member in (string[])["deviceId", "moduleId"])
                {
                    var claim = new JObject { ["instanceId"] = "instance-x", ["deviceId"] = "device-1", ["moduleId"] = "registry", ["mode"] = "ReadOnly", [member] = id };
                    var (status, body, _) = await PostAsync(parent, "activate", child, claim);
                    Assert.True(status == HttpStatusCode.BadRequest, $"{member} '{LogText.Escape(id)}' answered {status}");
                    Assert.Equal("REQUEST_INVALID", ErrorCode(body));
                    Assert.Contains($"'{member}' must be an IoT Hub id", (string)body["errors"]![0]!["message"]!);
                }
            }

            Assert.Equal(ActivationStates.Inactive, parent.State().Children[Child].ActivationState);
            Assert.DoesNotContain(logs.Lines, line => line.Contains("Child registry admin", StringComparison.Ordinal));
            Assert.DoesNotContain(logs.Lines, line => line.Any(c => c is '\u2028' or '\u202E' or '\u2066' or '\u001b'));

            // Every character IoT Hub allows, up to 128 of them, is taken (and logged as it is).
            var odd = "dev-1.a+b%c_d#e*f?g!h(i)j,k=l@m$n'o";
            var (okStatus, _, _) = await PostAsync(parent, "activate", child, new { instanceId = "instance-x", deviceId = odd, moduleId = new string('m', 128), mode = "ReadOnly" });
            Assert.Equal(HttpStatusCode.OK, okStatus);
            Assert.Contains(logs.Lines, line => line.Contains($"activated on device {odd}", StringComparison.Ordinal));
        }
        finally
        {
            await parent.DisposeAsync();
            parent.DeleteData();
        }
    }

    [Theory]
    [InlineData("1")]
    [InlineData("7")]
    [InlineData("ReadOnly,ReadWrite")]
    [InlineData("ReadWrite, ReadOnly")]
    public async Task A_mode_that_is_not_ReadWrite_or_ReadOnly_is_a_bad_request(string mode)
    {
        // Enum parsing also takes numbers and comma lists; the protocol only knows the two names.
        var parent = await StartAsync();
        try
        {
            parent.Apply(ParentSettings("edge-parent", Children()));
            var (status, body, _) = await PostAsync(parent, "activate", Basic(Child, ChildPassword), Claim("instance-x", mode: mode));
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Equal("REQUEST_INVALID", ErrorCode(body));
            Assert.Equal(ActivationStates.Inactive, parent.State().Children[Child].ActivationState);
        }
        finally
        {
            await parent.DisposeAsync();
            parent.DeleteData();
        }
    }

    [Fact]
    public async Task The_earlier_paths_stay_aliases_of_the_acr_paths_with_the_same_records()
    {
        var parent = await StartAsync();
        try
        {
            parent.Apply(ParentSettings("edge-parent", Children()));
            var child = Basic(Child, ChildPassword);
            var (status, _, _) = await PostAsync(parent, "activate", child, Claim("instance-x"), prefix: "/acr/connected-registry/v1");
            Assert.Equal(HttpStatusCode.OK, status);

            // The alias sees the same holder: another instance is refused there, the holder is welcome.
            JObject body;
            (status, body, _) = await PostAsync(parent, "activate", child, Claim("instance-y", device: "device-2"), prefix: "/connected-registry/v1");
            Assert.Equal(HttpStatusCode.Conflict, status);
            Assert.Equal("ALREADY_ACTIVATED", ErrorCode(body));
            (status, body, _) = await PostAsync(parent, "deactivate", child, Claim("instance-x"), prefix: "/connected-registry/v1");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.True((bool?)body["released"]);

            using var feed = new HttpRequestMessage(HttpMethod.Get, "/connected-registry/v1/changes?since=0");
            feed.Headers.Authorization = child;
            using var feedResponse = await parent.Client.SendAsync(feed);
            Assert.Equal(HttpStatusCode.OK, feedResponse.StatusCode);

            // Both token endpoints issue tokens; challenges name the one under /acr.
            foreach (var path in (string[])["/acr/oauth2/token", "/oauth2/token"])
            {
                using var token = new HttpRequestMessage(HttpMethod.Get, path + "?service=x&scope=repository:apps/web:pull");
                token.Headers.Authorization = Basic("admin", AdminPassword);
                using var tokenResponse = await parent.Client.SendAsync(token);
                Assert.Equal(HttpStatusCode.OK, tokenResponse.StatusCode);
                Assert.NotNull((string?)JObject.Parse(await tokenResponse.Content.ReadAsStringAsync())["token"]);
            }

            using var challenge = await parent.Client.GetAsync("/v2/");
            Assert.Contains($"realm=\"http://{parent.HostPort}/acr/oauth2/token\"", challenge.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            parent.DeleteData();
        }
    }

    [Fact]
    public async Task Last_seen_follows_the_holder_and_not_a_refused_instance()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var parent = await StartAsync(
            options: new ConnectedRegistry.Hierarchy.HierarchyOptions { LastSeenInterval = TimeSpan.Zero },
            configure: b => b.Services.AddSingleton<TimeProvider>(time));
        try
        {
            parent.Apply(ParentSettings("edge-parent", Children()));
            var child = Basic(Child, ChildPassword);
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(parent, "activate", child, Claim("instance-x"))).Status);
            var activated = parent.State().Children[Child].LastSeen;
            Assert.NotNull(activated);

            time.Advance(TimeSpan.FromMinutes(1)); // a refused claim a minute later must not move the holder's lastSeen
            Assert.Equal(HttpStatusCode.Conflict, (await PostAsync(parent, "activate", child, Claim("instance-y", device: "device-2"))).Status);
            Assert.Equal(activated, parent.State().Children[Child].LastSeen);

            using var poll = new HttpRequestMessage(HttpMethod.Get, "/connected-registry/v1/changes");
            poll.Headers.Authorization = child;
            using var response = await parent.Client.SendAsync(poll);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(parent.State().Children[Child].LastSeen > activated);
        }
        finally
        {
            parent.DeleteData();
        }
    }

    [Fact]
    public async Task A_ReadWrite_child_is_refused_by_a_ReadOnly_parent_and_when_registered_ReadOnly()
    {
        await using var parent = await StartAsync();
        try
        {
            parent.Apply(ParentSettings("edge-parent", Children(), RegistryMode.ReadOnly));
            var (status, body, _) = await PostAsync(parent, "activate", Basic(Child, ChildPassword), Claim("instance-x", mode: "ReadWrite"));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("DENIED", ErrorCode(body));
            Assert.Contains("ReadOnly", (string)body["errors"]![0]!["message"]!);

            parent.Apply(ParentSettings("edge-parent", Children(RegistryMode.ReadOnly)));
            (status, _, _) = await PostAsync(parent, "activate", Basic(Child, ChildPassword), Claim("instance-x", mode: "ReadWrite"));
            Assert.Equal(HttpStatusCode.Forbidden, status);

            parent.Apply(ParentSettings("edge-parent", Children(RegistryMode.ReadWrite)));
            (status, _, _) = await PostAsync(parent, "activate", Basic(Child, ChildPassword), Claim("instance-x", mode: "ReadWrite"));
            Assert.Equal(HttpStatusCode.OK, status);
        }
        finally
        {
            parent.DeleteData();
        }
    }

    [Fact]
    public async Task Change_feed_shows_a_child_only_its_repositories_and_answers_a_long_poll_when_content_arrives()
    {
        await using var parent = await StartAsync();
        var layout = TempDirectory.Create("layout");
        try
        {
            parent.Apply(ParentSettings("edge-parent", Children()));
            var builder = new OciLayoutBuilder(layout);
            var one = builder.SimpleImage("one", layerCount: 1);
            builder.SimpleImage("two", layerCount: 1);
            var auth = Basic(Child, ChildPassword);

            var start = await GetChangesAsync(parent, auth, "");
            var cursor = (long)start["last"]!;
            await PushAsync(parent, layout, "one", "apps/one", "v1");
            await PushAsync(parent, layout, "two", "other/two", "v1");

            var page = await GetChangesAsync(parent, auth, $"?since={cursor}");
            var change = Assert.Single((JArray)page["changes"]!);
            Assert.Equal("apps/one", (string?)change["repository"]);
            Assert.Equal("v1", (string?)change["tag"]);
            Assert.Equal(one.Digest.ToString(), (string?)change["digest"]);
            Assert.Equal("push", (string?)change["operation"]);
            Assert.False((bool)page["truncated"]!);
            cursor = (long)page["last"]!;

            // Nothing new for this child: the request waits until something is pushed.
            var changes = parent.App.Services.GetRequiredService<ChangeLog>();
            var waits = changes.Waits;
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            var poll = GetChangesAsync(parent, auth, $"?since={cursor}&wait=20");
            await Poll.UntilAsync(() => changes.Waits > waits, "the long poll waiting for a change");
            Assert.False(poll.IsCompleted);
            waits = changes.Waits;
            await PushAsync(parent, layout, "two", "other/two", "v2"); // not the child's: keeps waiting
            await Poll.UntilAsync(() => changes.Waits > waits, "the long poll woken by the push and waiting again");
            Assert.False(poll.IsCompleted);
            await PushAsync(parent, layout, "one", "apps/three", "latest");
            page = await poll;
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), $"the long poll took {stopwatch.Elapsed}");
            Assert.Equal("apps/three", (string?)Assert.Single((JArray)page["changes"]!)["repository"]);

            // A cursor from the future (another database) says: resync everything.
            Assert.True((bool)(await GetChangesAsync(parent, auth, "?since=999999"))["truncated"]!);

            using var bad = new HttpRequestMessage(HttpMethod.Get, "/connected-registry/v1/changes?since=abc");
            bad.Headers.Authorization = auth;
            using var badResponse = await parent.Client.SendAsync(bad);
            Assert.Equal(HttpStatusCode.BadRequest, badResponse.StatusCode);
            Assert.Equal("REQUEST_INVALID", ErrorCode(JObject.Parse(await badResponse.Content.ReadAsStringAsync())));

            // Through /v2 the child sees only its repositories too.
            using var catalog = new HttpRequestMessage(HttpMethod.Get, "/v2/_catalog");
            catalog.Headers.Authorization = auth;
            using var catalogResponse = await parent.Client.SendAsync(catalog);
            Assert.Equal(["apps/one", "apps/three"], JObject.Parse(await catalogResponse.Content.ReadAsStringAsync())["repositories"]!.Select(r => (string)r!).ToArray());
            using var pull = new HttpRequestMessage(HttpMethod.Get, "/v2/other/two/manifests/v1");
            pull.Headers.Authorization = auth;
            using var pullResponse = await parent.Client.SendAsync(pull);
            Assert.Equal(HttpStatusCode.Forbidden, pullResponse.StatusCode);
        }
        finally
        {
            TempDirectory.Delete(layout);
            parent.DeleteData();
        }
    }

    private static async Task<JObject> GetChangesAsync(RegistryInstance parent, AuthenticationHeaderValue auth, string query)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, ConnectedRegistry.Hierarchy.HierarchyEndpoints.Prefix + "/changes" + query);
        request.Headers.Authorization = auth;
        using var response = await parent.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JObject.Parse(text);
    }
}
