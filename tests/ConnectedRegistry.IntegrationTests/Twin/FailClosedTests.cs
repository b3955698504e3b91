using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Twin;

/// <summary>
/// Configuration errors fail closed, on real Kestrel with the real twin clients (the standalone file and MQTT to a
/// fake edgeHub): until a desired document has applied, now or in an earlier run, every request but <c>/v2/</c>
/// answers 503 UNAVAILABLE naming why and <c>/readyz</c> is not ready, instead of serving the built-in defaults, an
/// open registry that took anonymous pushes (201) when the first twin was rejected.
/// </summary>
public sealed class FailClosedTests : IAsyncLifetime
{
    private const string Password = "fail-closed-password";
    private static readonly string Hash = PasswordHasher.Hash(Password, PasswordHasher.MinIterations);
    private static readonly TestBlob Blob = new(Encoding.UTF8.GetBytes("fail closed"), "application/octet-stream");

    private readonly string _folder = TempDirectory.Create("fail-closed");
    private readonly List<RegistryInstance> _started = [];

    private string DesiredFile => Path.Combine(_folder, "twin", "desired.json");

    private static string Tokens(string member = "clientTokens") =>
        $$"""{{JsonString(member)}}: { "pusher": { "passwordHash": "{{Hash}}", "scopeMap": { "apps/*": ["content/read", "content/write", "metadata/read"] } } }""";

    private static string JsonString(string text) => new JValue(text).ToString(Newtonsoft.Json.Formatting.None);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var registry in _started)
        {
            await registry.DisposeAsync();
        }

        TempDirectory.Delete(_folder);
    }

    private async Task<RegistryInstance> StartStandaloneAsync()
    {
        var registry = await RegistryInstance.StartAsync(
            Path.Combine(_folder, "data"),
            ["--desired", DesiredFile, "--reported", Path.Combine(_folder, "twin", "reported.json"), "--Twin:FilePollIntervalMs", "100", "--Twin:ReportIntervalMs", "100"],
            b => b.Services.AddSingleton(new ModuleEnvironment(new Dictionary<string, string>())));
        _started.Add(registry);
        return registry;
    }

    private async Task StopAsync(RegistryInstance registry)
    {
        _started.Remove(registry);
        await registry.DisposeAsync();
    }

    private void WriteDesired(string json)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DesiredFile)!);
        var temp = DesiredFile + ".tmp";
        File.WriteAllText(temp, json);
        File.Move(temp, DesiredFile, overwrite: true);
    }

    /// <summary>A monolithic blob push, anonymous or as the token: 201 when the registry takes it.</summary>
    private static async Task<HttpResponseMessage> PushAsync(RegistryInstance registry, bool asToken = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/apps/web/blobs/uploads/?digest={Blob.Digest}") { Content = new ByteArrayContent(Blob.Bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (asToken)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("pusher:" + Password)));
        }

        return await registry.Client.SendAsync(request);
    }

    /// <summary>The 503 envelope's message, asserting status, code and that no hash is echoed.</summary>
    private static async Task<string> UnavailableAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)response.StatusCode} {body}");
        var error = JObject.Parse(body)["errors"]![0]!;
        Assert.Equal("UNAVAILABLE", (string?)error["code"]);
        Assert.DoesNotContain("pbkdf2", body, StringComparison.Ordinal);
        return (string)error["message"]!;
    }

    private static async Task<(HttpStatusCode Status, JObject Body)> ReadyzAsync(RegistryInstance registry)
    {
        using var http = new HttpClient { BaseAddress = MetricsPort.Address(registry) };
        var response = await http.GetAsync("/readyz");
        return (response.StatusCode, JObject.Parse(await response.Content.ReadAsStringAsync()));
    }

    private static async Task AssertServesWithTokensAsync(RegistryInstance registry)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await PushAsync(registry)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PushAsync(registry, asToken: true)).StatusCode);
        var (status, body) = await ReadyzAsync(registry);
        Assert.True(status == HttpStatusCode.OK, body.ToString());
    }

    [Fact]
    public async Task A_rejected_first_desired_file_answers_503_naming_the_reasons_until_a_good_one_applies()
    {
        WriteDesired($$"""{ "schemaVersion": "1.0", "name": "edge-closed", {{Tokens("clientToken")}} }""");
        var registry = await StartStandaloneAsync();

        var message = await UnavailableAsync(await PushAsync(registry));
        Assert.Contains("'clientToken' is not a member but looks like the security member 'clientTokens'", message, StringComparison.Ordinal);
        await UnavailableAsync(await registry.Client.GetAsync("/v2/apps/web/tags/list"));
        await UnavailableAsync(await registry.Client.GetAsync("/v2/_catalog"));
        await UnavailableAsync(await registry.Client.GetAsync("/acr/oauth2/token?service=x&scope=repository:apps/web:pull"));
        Assert.Equal(HttpStatusCode.OK, (await registry.Client.GetAsync("/v2/")).StatusCode); // the base still answers

        var (status, body) = await ReadyzAsync(registry);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("Unhealthy", (string?)body["checks"]!["settings"]!["status"]);
        Assert.Contains("looks like the security member 'clientTokens'", (string?)body["checks"]!["settings"]!["description"], StringComparison.Ordinal);

        WriteDesired($$"""{ "schemaVersion": "1.0", "name": "edge-closed", {{Tokens()}} }""");
        await Poll.UntilAsync(async () => (await PushAsync(registry)).StatusCode != HttpStatusCode.ServiceUnavailable, "the good document applied");
        await AssertServesWithTokensAsync(registry);
    }

    [Theory]
    [InlineData("clientToken")]
    [InlineData("client_tokens")]
    [InlineData("client\u200BTokens")] // a zero-width space
    [InlineData("\u0441lientTokens")] // a Cyrillic es
    public async Task Each_near_miss_spelling_of_clientTokens_in_a_first_document_fails_closed(string member)
    {
        WriteDesired($$"""{ "schemaVersion": "1.0", {{Tokens(member)}} }""");
        var registry = await StartStandaloneAsync();

        var message = await UnavailableAsync(await PushAsync(registry));

        Assert.Contains($"'{MemberLikeness.Visible(member)}' is not a member but looks like the security member 'clientTokens'", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_first_document_naming_clientTokens_twice_fails_closed()
    {
        WriteDesired($$"""{ "schemaVersion": "1.0", {{Tokens()}}, "clientTokens": {} }""");
        var registry = await StartStandaloneAsync();

        var message = await UnavailableAsync(await PushAsync(registry));

        Assert.Contains("clientTokens: the member is named more than once in its object", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_desired_file_the_registry_answers_503_until_one_is_written()
    {
        var registry = await StartStandaloneAsync();

        Assert.Contains("the desired properties file does not exist", await UnavailableAsync(await PushAsync(registry)), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await ReadyzAsync(registry)).Status);

        WriteDesired("""{ "schemaVersion": "1.0" }"""); // an open registry, written on purpose
        await Poll.UntilAsync(async () => (await PushAsync(registry)).StatusCode == HttpStatusCode.Created, "the open document applied");
        Assert.Equal(HttpStatusCode.OK, (await ReadyzAsync(registry)).Status);
    }

    [Fact]
    public async Task A_restart_with_a_broken_desired_file_serves_at_once_with_the_last_good_document()
    {
        WriteDesired($$"""{ "schemaVersion": "1.0", {{Tokens()}} }""");
        var first = await StartStandaloneAsync();
        await AssertServesWithTokensAsync(first);
        await StopAsync(first);

        WriteDesired($$"""{ "schemaVersion": "1.0", {{Tokens("client_tokens")}} }""");
        var second = await StartStandaloneAsync();

        await AssertServesWithTokensAsync(second); // at once: no wait for anything
    }

    [Fact]
    public async Task A_rejected_first_twin_over_mqtt_answers_503_until_a_good_patch_applies()
    {
        await using var edge = await EdgeHarness.StartAsync();
        edge.Hub.SetDesired(TwinJson.ParseObject($$"""{ "schemaVersion": "1.0", {{Tokens("client_tokens")}} }"""), 3);
        var module = await edge.StartModuleAsync();

        Assert.Contains("desired properties version 3 not applied: 'client_tokens' is not a member but looks like the security member 'clientTokens'", await UnavailableAsync(await PushAsync(module)), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await ReadyzAsync(module)).Status);

        await edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject($$"""{ "client_tokens": null, {{Tokens()}} }"""));
        await Poll.UntilAsync(async () => (await PushAsync(module)).StatusCode != HttpStatusCode.ServiceUnavailable, "the good patch applied");
        await AssertServesWithTokensAsync(module);
    }

    [Fact]
    public async Task Without_edgeHub_a_first_start_answers_503_and_a_later_start_serves_its_last_good_document_at_once()
    {
        await using var edge = await EdgeHarness.StartAsync();
        edge.Hub.SetDesired(TwinJson.ParseObject($$"""{ "schemaVersion": "1.0", {{Tokens()}} }"""), 2);
        await edge.Hub.StopAsync();
        var module = await edge.StartModuleAsync(extraArgs: ["--Twin:InitialTwinTimeoutMs", "300"]);

        Assert.Contains(RegistrySettingsStore.NoDocumentYet, await UnavailableAsync(await PushAsync(module)), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await ReadyzAsync(module)).Status);

        await edge.Hub.StartAsync();
        await Poll.UntilAsync(async () => (await PushAsync(module)).StatusCode != HttpStatusCode.ServiceUnavailable, "the twin applied once edgeHub answers", TimeSpan.FromSeconds(30));
        await AssertServesWithTokensAsync(module);

        var data = await edge.StopModuleAsync();
        await edge.Hub.StopAsync();
        module = await edge.StartModuleAsync(dataRoot: data, extraArgs: ["--Twin:InitialTwinTimeoutMs", "300"]);

        await AssertServesWithTokensAsync(module);
    }
}
