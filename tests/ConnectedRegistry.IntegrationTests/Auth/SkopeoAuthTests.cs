using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static ConnectedRegistry.IntegrationTests.Infrastructure.AuthSettings;

namespace ConnectedRegistry.IntegrationTests.Auth;

/// <summary>skopeo, a real Docker-token client, against the registry with authentication on.</summary>
public sealed class SkopeoAuthTests : IAsyncLifetime
{
    private static readonly TestImage Seeded = TestContent.Image("skopeo-auth-seed", layers: 2, layerSize: 20_000);
    private AuthTestRegistry _registry = null!;
    private string _work = null!;

    public async Task InitializeAsync()
    {
        _registry = await AuthTestRegistry.StartAsync(
            With(tokens: new()
            {
                ["factory-pusher"] = Token("pusher-pw", new() { ["factory/*"] = [RegistryActions.ContentRead, RegistryActions.ContentWrite, RegistryActions.MetadataRead] }),
                ["factory-puller"] = Token("puller-pw", new() { ["factory/*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }),
                ["other-puller"] = Token("other-pw", new() { ["other/*"] = [RegistryActions.ContentRead, RegistryActions.MetadataRead] }),
            }),
            seed: client => client.PushImageAsync("factory/base", "v1", Seeded));
        _work = TempDirectory.Create("skopeo-auth");
    }

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        TempDirectory.Delete(_work);
    }

    private string Ref(string repository) => $"docker://{_registry.Instance.HostPort}/{repository}";

    [Fact]
    public async Task Push_with_dest_creds_of_a_token_allowed_to_then_pull_with_src_creds()
    {
        var image = TestContent.Image("skopeo-auth-push", layers: 2, layerSize: 50_000);
        var source = new OciLayoutBuilder(Path.Combine(_work, "push-src"));
        source.AddImage(image, "v1");

        await Skopeo.RunAsync("copy", "--dest-tls-verify=false", "--preserve-digests", "--dest-creds", "factory-pusher:pusher-pw", $"oci:{source.Directory}:v1", Ref("factory/line:v1"));

        var pulled = new OciLayoutBuilder(Path.Combine(_work, "push-pulled"));
        await Skopeo.RunAsync("copy", "--src-tls-verify=false", "--preserve-digests", "--src-creds", "factory-puller:puller-pw", Ref("factory/line:v1"), $"oci:{pulled.Directory}:v1");
        Assert.Equal(image.Manifest.Bytes, pulled.ReadBlob(image.Manifest.Digest));
        foreach (var blob in image.Blobs)
        {
            Assert.Equal(blob.Bytes, pulled.ReadBlob(blob.Digest));
        }

        // skopeo took the Docker token flow, not plain Basic.
        Assert.Contains(_registry.Logs.Lines, l => l.Contains("GET http://" + _registry.Instance.HostPort + "/acr/oauth2/token", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Push_with_a_read_only_token_is_refused()
    {
        var image = TestContent.Image("skopeo-auth-refused-push", layers: 1, layerSize: 1000);
        var source = new OciLayoutBuilder(Path.Combine(_work, "refused-src"));
        source.AddImage(image, "v1");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            Skopeo.RunAsync("copy", "--dest-tls-verify=false", "--dest-creds", "factory-puller:puller-pw", $"oci:{source.Directory}:v1", Ref("factory/refused:v1")));
        Assert.Contains("denied", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.False(_registry.Instance.App.Services.GetRequiredService<ConnectedRegistry.Storage.RegistryStore>().RepositoryExists("factory/refused"));
    }

    [Fact]
    public async Task Inspect_and_list_tags_with_creds()
    {
        var raw = await Skopeo.RunAsync("inspect", "--tls-verify=false", "--raw", "--creds", "factory-puller:puller-pw", Ref("factory/base:v1"));
        Assert.Equal(Seeded.Manifest.Bytes, System.Text.Encoding.UTF8.GetBytes(raw));
        var tags = await Skopeo.RunAsync("list-tags", "--tls-verify=false", "--creds", "factory-puller:puller-pw", Ref("factory/base"));
        Assert.Contains("\"v1\"", tags, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("other-puller:other-pw")]
    [InlineData("factory-puller:wrong-password")]
    [InlineData(null)]
    public async Task Pull_with_a_token_for_other_repositories_a_wrong_password_or_none_is_refused(string? creds)
    {
        var target = new OciLayoutBuilder(Path.Combine(_work, $"refused-pull-{Guid.NewGuid():N}"));
        var args = new List<string> { "copy", "--src-tls-verify=false" };
        if (creds is not null)
        {
            args.AddRange(["--src-creds", creds]);
        }

        args.AddRange([Ref("factory/base:v1"), $"oci:{target.Directory}:v1"]);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Skopeo.RunAsync([.. args]));
        Assert.Matches("(?i)denied|unauthorized|authentication required", error.Message);
        Assert.Null(target.ReadBlob(Seeded.Manifest.Digest));
    }

    [Fact]
    public async Task Copy_between_repositories_with_different_src_and_dest_creds()
    {
        await Skopeo.RunAsync(
            "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests",
            "--src-creds", "factory-puller:puller-pw", "--dest-creds", "factory-pusher:pusher-pw",
            Ref("factory/base:v1"), Ref("factory/copy:v2"));
        var raw = await Skopeo.RunAsync("inspect", "--tls-verify=false", "--raw", "--creds", "factory-puller:puller-pw", Ref("factory/copy:v2"));
        Assert.Equal(Seeded.Manifest.Bytes, System.Text.Encoding.UTF8.GetBytes(raw));
    }
}
