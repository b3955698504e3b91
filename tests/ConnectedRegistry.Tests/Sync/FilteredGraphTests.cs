using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Moq;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>The manifest graph walk under a platform filter, over a Moq parent side and a real local side: nested indexes filtered at every level, and completed when the filter widens.</summary>
public sealed class FilteredGraphTests : IDisposable
{
    private const string Repository = "apps/web";
    private readonly LocalSide _local = new();

    public void Dispose() => _local.Dispose();

    [Fact]
    public async Task A_nested_index_is_filtered_at_every_level_and_a_wider_filter_completes_it()
    {
        var amd64 = Image("amd64");
        var arm64 = Image("arm64");
        var armv7 = Image("arm");
        var nested = Index(Entry(amd64.Manifest, "amd64", null), Entry(arm64.Manifest, "arm64", null));
        var top = Index($$"""{"mediaType":"{{MediaTypes.OciIndex}}","digest":"{{nested.Digest}}","size":{{nested.Bytes.Length}}}""", Entry(armv7.Manifest, "arm", "v7"));
        foreach (var manifest in new[] { amd64.Manifest, arm64.Manifest, armv7.Manifest, nested, top })
        {
            _local.Parent.Setup(p => p.GetManifestAsync(Repository, manifest.Digest.ToString(), It.IsAny<CancellationToken>())).ReturnsAsync(manifest);
        }

        foreach (var (blob, bytes) in new[] { amd64.Config, arm64.Config, armv7.Config })
        {
            _local.Parent.Setup(p => p.GetBlobAsync(Repository, blob.Digest, 0, It.IsAny<CancellationToken>())).ReturnsAsync(() => LocalSide.Download(bytes));
        }

        var graph = new ManifestGraphSync(_local.Destination);
        await graph.StoreAsync(_local.Pass(), Repository, top, "v1", PlatformFilter.Of(["linux/arm64"]));

        Assert.Equal(top.Bytes, _local.Store.GetManifest(Repository, "v1")!.Content);
        Assert.NotNull(_local.Store.GetManifest(Repository, nested.Digest.ToString()));
        Assert.NotNull(_local.Store.GetManifest(Repository, arm64.Manifest.Digest.ToString()));
        Assert.Equal([armv7.Manifest.Digest], _local.Store.LeftOutChildren(Repository, top.Digest));
        Assert.Equal([amd64.Manifest.Digest], _local.Store.LeftOutChildren(Repository, nested.Digest));
        Assert.False(_local.Store.BlobExists(amd64.Config.Descriptor.Digest));

        await graph.CompleteAsync(_local.Pass(), Repository, top.Digest, PlatformFilter.All);

        Assert.Empty(_local.Store.LeftOutChildren(Repository, top.Digest));
        Assert.Empty(_local.Store.LeftOutChildren(Repository, nested.Digest));
        Assert.True(_local.Store.BlobExists(amd64.Config.Descriptor.Digest));
        Assert.True(_local.Store.BlobExists(armv7.Config.Descriptor.Digest));
    }

    private static ((Descriptor Descriptor, byte[] Bytes) Config, ManifestContent Manifest) Image(string architecture)
    {
        var config = LocalSide.Blob("config-" + architecture, 200 + architecture.Length);
        return (config, LocalSide.Manifest(config.Descriptor));
    }

    private static string Entry(ManifestContent manifest, string architecture, string? variant)
    {
        var platform = variant is null ? $$"""{"os":"linux","architecture":"{{architecture}}"}""" : $$"""{"os":"linux","architecture":"{{architecture}}","variant":"{{variant}}"}""";
        return $$"""{"mediaType":"{{MediaTypes.OciManifest}}","digest":"{{manifest.Digest}}","size":{{manifest.Bytes.Length}},"platform":{{platform}}}""";
    }

    private static ManifestContent Index(params string[] entries)
    {
        var bytes = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciIndex}}","manifests":[{{string.Join(",", entries)}}]}""");
        return new ManifestContent(bytes, MediaTypes.OciIndex, Digest.Compute(bytes));
    }
}
