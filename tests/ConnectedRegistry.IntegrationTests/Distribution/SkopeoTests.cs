using System.Net;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Oci;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Distribution;

/// <summary>A real OCI client (skopeo) pushes to and pulls from the registry; digests survive the round trip.</summary>
public sealed class SkopeoTests : IAsyncLifetime
{
    private RegistryInstance _registry = null!;
    private string _work = null!;

    public async Task InitializeAsync()
    {
        _registry = await RegistryInstance.StartAsync();
        _work = TempDirectory.Create("skopeo");
    }

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        _registry.DeleteData();
        TempDirectory.Delete(_work);
    }

    [Fact]
    public async Task Single_platform_image_round_trips_with_identical_digests()
    {
        var image = TestContent.Image("skopeo-single", layers: 3, layerSize: 300_000);
        var source = new OciLayoutBuilder(Path.Combine(_work, "src"));
        source.AddImage(image, "v1");

        await Skopeo.CopyAsync($"oci:{source.Directory}:v1", $"docker://{_registry.HostPort}/library/app:v1");

        Assert.Equal(image.Manifest.Bytes, await Skopeo.InspectRawAsync($"docker://{_registry.HostPort}/library/app:v1"));
        var pulled = new OciLayoutBuilder(Path.Combine(_work, "pulled"));
        await Skopeo.CopyAsync($"docker://{_registry.HostPort}/library/app:v1", $"oci:{pulled.Directory}:v1");
        Assert.Equal(image.Manifest.Bytes, pulled.ReadBlob(image.Manifest.Digest));
        foreach (var blob in image.Blobs)
        {
            Assert.Equal(blob.Bytes, pulled.ReadBlob(blob.Digest));
        }

        var head = await _registry.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/library/app/manifests/v1"));
        Assert.Equal(image.Manifest.Digest.ToString(), Assert.Single(head.Headers.GetValues("Docker-Content-Digest")));
    }

    [Fact]
    public async Task Skopeo_pushes_a_docker_schema2_manifest_it_converted_itself()
    {
        var image = TestContent.Image("skopeo-convert", layers: 1, layerSize: 50_000);
        var source = new OciLayoutBuilder(Path.Combine(_work, "src"));
        source.AddImage(image, "v1");

        await Skopeo.CopyAsync($"oci:{source.Directory}:v1", $"docker://{_registry.HostPort}/converted:v1", preserveDigests: false, extraArgs: ["--format", "v2s2"]);

        var raw = await Skopeo.InspectRawAsync($"docker://{_registry.HostPort}/converted:v1");
        Assert.Equal(MediaTypes.DockerManifest, (string)JObject.Parse(System.Text.Encoding.UTF8.GetString(raw))["mediaType"]!);
        var get = await _registry.Client.GetAsync("/v2/converted/manifests/v1");
        Assert.Equal(MediaTypes.DockerManifest, get.Content.Headers.ContentType!.MediaType);
        Assert.Equal(raw, await get.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Docker_schema2_image_round_trips()
    {
        var image = TestContent.Image("skopeo-docker", mediaType: MediaTypes.DockerManifest);

        // OCI layouts hold OCI manifests: push the Docker manifest by raw HTTP, then copy it registry to registry with skopeo.
        await _registry.Client.PushImageAsync("docker/app", "d1", image);
        Assert.Equal(image.Manifest.Bytes, await Skopeo.InspectRawAsync($"docker://{_registry.HostPort}/docker/app:d1"));
        var copyTarget = $"docker://{_registry.HostPort}/docker/copy:d1";
        await Skopeo.CopyAsync($"docker://{_registry.HostPort}/docker/app:d1", copyTarget);
        Assert.Equal(image.Manifest.Bytes, await Skopeo.InspectRawAsync(copyTarget));
    }

    [Fact]
    public async Task Multi_platform_index_copies_with_all_and_keeps_every_digest()
    {
        var amd64 = TestContent.Image("skopeo-amd64", architecture: "amd64");
        var arm64 = TestContent.Image("skopeo-arm64", architecture: "arm64");
        var index = TestContent.Index([(amd64, "amd64"), (arm64, "arm64")]);
        var source = new OciLayoutBuilder(Path.Combine(_work, "src"));
        source.AddImage(amd64);
        source.AddImage(arm64);
        source.AddBlob(index);
        source.Tag(index, "multi");

        await Skopeo.CopyAsync($"oci:{source.Directory}:multi", $"docker://{_registry.HostPort}/nested/path/multi:1.0", all: true);

        Assert.Equal(index.Bytes, await Skopeo.InspectRawAsync($"docker://{_registry.HostPort}/nested/path/multi:1.0"));
        foreach (var image in new[] { amd64, arm64 })
        {
            Assert.Equal(image.Manifest.Bytes, await Skopeo.InspectRawAsync($"docker://{_registry.HostPort}/nested/path/multi@{image.Manifest.Digest}"));
        }

        var pulled = new OciLayoutBuilder(Path.Combine(_work, "pulled"));
        await Skopeo.CopyAsync($"docker://{_registry.HostPort}/nested/path/multi:1.0", $"oci:{pulled.Directory}:multi", all: true);
        Assert.Equal(index.Bytes, pulled.ReadBlob(index.Digest));
        foreach (var blob in amd64.Blobs.Concat(arm64.Blobs))
        {
            Assert.Equal(blob.Bytes, pulled.ReadBlob(blob.Digest));
        }
    }

    [Fact]
    public async Task Artifact_with_subject_round_trips_and_is_listed_as_referrer()
    {
        var image = TestContent.Image("skopeo-subject");
        var artifact = TestContent.Artifact("skopeo-signature", "application/vnd.example.sig", image.Manifest);
        var source = new OciLayoutBuilder(Path.Combine(_work, "src"));
        source.AddImage(image, "app");
        source.AddImage(artifact, "sig");

        await Skopeo.CopyAsync($"oci:{source.Directory}:app", $"docker://{_registry.HostPort}/signed:app");
        await Skopeo.CopyAsync($"oci:{source.Directory}:sig", $"docker://{_registry.HostPort}/signed:sig");

        Assert.Equal(artifact.Manifest.Bytes, await Skopeo.InspectRawAsync($"docker://{_registry.HostPort}/signed:sig"));
        var referrers = await _registry.Client.GetAsync($"/v2/signed/referrers/{image.Manifest.Digest}");
        Assert.Equal(HttpStatusCode.OK, referrers.StatusCode);
        var listed = Assert.Single((JArray)JObject.Parse(await referrers.Content.ReadAsStringAsync())["manifests"]!);
        Assert.Equal(artifact.Manifest.Digest.ToString(), (string)listed["digest"]!);
        Assert.Equal("application/vnd.example.sig", (string)listed["artifactType"]!);

        var pulled = new OciLayoutBuilder(Path.Combine(_work, "pulled"));
        await Skopeo.CopyAsync($"docker://{_registry.HostPort}/signed:sig", $"oci:{pulled.Directory}:sig");
        Assert.Equal(artifact.Manifest.Bytes, pulled.ReadBlob(artifact.Manifest.Digest));
    }
}
