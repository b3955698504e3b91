using System.Net;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

public class ReadOnlyTests
{
    private const string D = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    public static TheoryData<string, string> Writes => new()
    {
        { "PUT", "/v2/app/manifests/latest" },
        { "DELETE", "/v2/app/manifests/" + D },
        { "DELETE", "/v2/app/manifests/latest" },
        { "DELETE", "/v2/app/blobs/" + D },
        { "POST", "/v2/app/blobs/uploads/" },
        { "POST", $"/v2/app/blobs/uploads/?mount={D}&from=base" },
        { "PATCH", "/v2/app/blobs/uploads/5f1e" },
        { "PUT", "/v2/app/blobs/uploads/5f1e?digest=" + D },
        { "DELETE", "/v2/app/blobs/uploads/5f1e" },
    };

    [Theory]
    [MemberData(nameof(Writes))]
    public async Task Every_client_write_is_refused_with_405_unsupported_even_with_auth_off(string method, string path)
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(mode: RegistryMode.ReadOnly));
        using var response = await registry.SendAsync(new HttpMethod(method), path);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("UNSUPPORTED", await AuthTestRegistry.ErrorCodeAsync(response));
        Assert.Contains("ReadOnly", body, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Writes))]
    public async Task Every_client_write_is_refused_for_a_token_that_may_write(string method, string path)
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(
            tokens: new() { ["all-powerful"] = Token("pw-all", new() { ["*"] = [.. RegistryActions.All] }) },
            mode: RegistryMode.ReadOnly));
        using var response = await registry.SendAsync(new HttpMethod(method), path, AuthTestRegistry.Basic("all-powerful", "pw-all"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("UNSUPPORTED", await AuthTestRegistry.ErrorCodeAsync(response));

        // Unauthenticated writers are told to authenticate first.
        using var anonymous = await registry.SendAsync(new HttpMethod(method), path);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Fact]
    public async Task Sync_still_writes_through_the_store_and_every_read_is_served()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(
            tokens: new() { ["all-powerful"] = Token("pw-all", new() { ["*"] = [.. RegistryActions.All] }) },
            mode: RegistryMode.ReadOnly));

        // What the sync engine does: write through the storage facade, not over HTTP.
        var image = TestContent.Image("readonly-sync", layers: 1, layerSize: 512);
        var store = registry.Instance.App.Services.GetRequiredService<RegistryStore>();
        foreach (var blob in image.Blobs)
        {
            await store.WriteBlobAsync("app", blob.Digest, new MemoryStream(blob.Bytes));
        }

        await store.PutManifestAsync("app", image.Manifest.Bytes, image.Manifest.MediaType, tag: "latest");

        var auth = AuthTestRegistry.Basic("all-powerful", "pw-all");
        foreach (var (method, path) in new[]
        {
            ("GET", "/v2/app/manifests/latest"),
            ("HEAD", "/v2/app/manifests/latest"),
            ("GET", $"/v2/app/manifests/{image.Manifest.Digest}"),
            ("GET", $"/v2/app/blobs/{image.Config.Digest}"),
            ("HEAD", $"/v2/app/blobs/{image.Layers[0].Digest}"),
            ("GET", "/v2/app/tags/list"),
            ("GET", $"/v2/app/referrers/{image.Manifest.Digest}"),
            ("GET", "/v2/_catalog"),
        })
        {
            using var response = await registry.SendAsync(new HttpMethod(method), path, auth);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{method} {path} → {(int)response.StatusCode}");
        }

        // And the refusal still holds for the content sync wrote.
        using var delete = await registry.SendAsync(HttpMethod.Delete, $"/v2/app/manifests/{image.Manifest.Digest}", auth);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, delete.StatusCode);
        Assert.NotNull(store.GetManifest("app", "latest"));
    }

    [Fact]
    public async Task Switching_to_ReadWrite_lifts_the_refusal()
    {
        await using var registry = await AuthTestRegistry.StartAsync(With(mode: RegistryMode.ReadOnly));
        using (var refused = await registry.SendAsync(HttpMethod.Post, "/v2/app/blobs/uploads/"))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, refused.StatusCode);
        }

        registry.Apply(With(mode: RegistryMode.ReadWrite));
        using var allowed = await registry.SendAsync(HttpMethod.Post, "/v2/app/blobs/uploads/");
        Assert.Equal(HttpStatusCode.Accepted, allowed.StatusCode);
    }
}
