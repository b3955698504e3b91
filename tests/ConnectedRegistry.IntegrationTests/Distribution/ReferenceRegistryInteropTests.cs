using ConnectedRegistry.IntegrationTests.Infrastructure;

namespace ConnectedRegistry.IntegrationTests.Distribution;

/// <summary>Content moves between this registry and the reference implementation (docker-registry) with every digest intact.</summary>
public sealed class ReferenceRegistryInteropTests
{
    [Fact]
    public async Task Multi_platform_image_copies_from_docker_registry_and_back_unchanged()
    {
        await using var reference = await DockerRegistry.StartNewAsync(auth: false);
        await using var registry = await RegistryInstance.StartAsync();
        var work = TempDirectory.Create("interop");
        try
        {
            var amd64 = TestContent.Image("interop-amd64", architecture: "amd64");
            var arm64 = TestContent.Image("interop-arm64", architecture: "arm64");
            var index = TestContent.Index([(amd64, "amd64"), (arm64, "arm64")]);
            var source = new OciLayoutBuilder(Path.Combine(work, "src"));
            source.AddImage(amd64);
            source.AddImage(arm64);
            source.AddBlob(index);
            source.Tag(index, "v1");
            await Skopeo.CopyAsync($"oci:{source.Directory}:v1", $"docker://{reference.HostPort}/interop/app:v1", all: true);

            await Skopeo.CopyAsync($"docker://{reference.HostPort}/interop/app:v1", $"docker://{registry.HostPort}/interop/app:v1", all: true);
            Assert.Equal(index.Bytes, await Skopeo.InspectRawAsync($"docker://{registry.HostPort}/interop/app:v1"));

            await Skopeo.CopyAsync($"docker://{registry.HostPort}/interop/app:v1", $"docker://{reference.HostPort}/interop/back:v1", all: true);
            Assert.Equal(index.Bytes, await Skopeo.InspectRawAsync($"docker://{reference.HostPort}/interop/back:v1"));
            Assert.Equal(arm64.Manifest.Bytes, await Skopeo.InspectRawAsync($"docker://{reference.HostPort}/interop/back@{arm64.Manifest.Digest}"));
        }
        finally
        {
            TempDirectory.Delete(work);
            registry.DeleteData();
        }
    }
}
