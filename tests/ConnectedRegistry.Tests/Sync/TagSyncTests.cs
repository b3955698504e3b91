using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>Tag sync over a Moq parent side and a real local side: tag diff, repointed and removed tags, pending pushes.</summary>
public sealed class TagSyncTests : IDisposable
{
    private const string Repository = "apps/web";
    private readonly LocalSide _local = new();
    private readonly Mock<IPendingPushes> _pending = new();
    private readonly Mock<ISyncChangeSink> _changes = new();

    public void Dispose() => _local.Dispose();

    [Fact]
    public async Task A_tag_that_repoints_at_the_parent_is_moved_here_with_its_new_content()
    {
        var (config, configBytes) = LocalSide.Blob("config-1", 300);
        var (layer, layerBytes) = LocalSide.Blob("layer-1", 5_000);
        var (layer2, layer2Bytes) = LocalSide.Blob("layer-2", 6_000);
        var old = await StoreLocallyAsync("v1", LocalSide.Manifest(config, layer), (config, configBytes), (layer, layerBytes));
        var repointed = LocalSide.Manifest(config, layer2);
        ParentHas(("v1", repointed));
        _local.Parent.Setup(p => p.GetBlobAsync(Repository, layer2.Digest, 0, It.IsAny<CancellationToken>())).ReturnsAsync(() => LocalSide.Download(layer2Bytes));

        var pass = _local.Pass();
        await TagSync().SyncRepositoryAsync(pass, Repository);

        Assert.Equal(repointed.Digest, _local.Store.GetManifest(Repository, "v1")!.Digest);
        Assert.Equal(repointed.Digest, _local.SyncState.SyncedTags(Repository)["v1"]);
        Assert.NotNull(_local.Store.GetManifest(Repository, old.Digest.ToString())); // the old manifest stays until GC
        _local.Parent.Verify(p => p.GetBlobAsync(Repository, config.Digest, It.IsAny<long>(), It.IsAny<CancellationToken>()), Times.Never);
        _changes.Verify(c => c.TagSynced(Repository, "v1", repointed.Digest), Times.Once);
        Assert.Equal(1, pass.Meter.TagsUpdated);
        Assert.Empty(pass.Meter.Failures);
    }

    [Fact]
    public async Task An_unchanged_tag_costs_one_head_and_no_manifest_or_blob()
    {
        var (config, configBytes) = LocalSide.Blob("config-u", 200);
        var manifest = await StoreLocallyAsync("stable", LocalSide.Manifest(config), (config, configBytes));
        ParentHas(("stable", manifest));

        var pass = _local.Pass();
        await TagSync().SyncRepositoryAsync(pass, Repository);

        _local.Parent.Verify(p => p.HeadManifestAsync(Repository, "stable", It.IsAny<CancellationToken>()), Times.Once);
        _local.Parent.Verify(p => p.GetManifestAsync(It.IsAny<string>(), It.IsAny<string>(), It.IsAny<CancellationToken>()), Times.Never);
        Assert.Equal(0, pass.Meter.TagsUpdated);
        Assert.Equal(manifest.Digest, _local.SyncState.SyncedTags(Repository)["stable"]);
    }

    [Fact]
    public async Task A_tag_gone_from_the_parent_goes_here_when_sync_put_it_there_but_a_local_tag_stays()
    {
        var (config, configBytes) = LocalSide.Blob("config-g", 200);
        var manifest = await StoreLocallyAsync("synced", LocalSide.Manifest(config), (config, configBytes));
        _local.SyncState.SetSynced(Repository, "synced", manifest.Digest);
        await _local.Store.SetTagAsync(Repository, "pushed-here", manifest.Digest);
        ParentHas();

        // A tag sync put here is HEADed while the tag list is asked for (LocalTagHeads); the parent has it no more.
        _local.Parent.Setup(p => p.HeadManifestAsync(Repository, "synced", It.IsAny<CancellationToken>())).ReturnsAsync((ManifestInfo?)null);

        var pass = _local.Pass(RegistryMode.ReadWrite);
        await TagSync().SyncRepositoryAsync(pass, Repository);

        Assert.Null(_local.Store.GetManifest(Repository, "synced"));
        Assert.NotNull(_local.Store.GetManifest(Repository, "pushed-here"));
        Assert.False(_local.SyncState.SyncedTags(Repository).ContainsKey("synced"));
        _changes.Verify(c => c.TagRemoved(Repository, "synced"), Times.Once);
        Assert.Equal(1, pass.Meter.TagsRemoved);
    }

    [Fact]
    public async Task In_a_read_only_registry_every_tag_gone_from_the_parent_goes()
    {
        var (config, configBytes) = LocalSide.Blob("config-r", 200);
        await StoreLocallyAsync("anything", LocalSide.Manifest(config), (config, configBytes));
        ParentHas();

        await TagSync().SyncRepositoryAsync(_local.Pass(RegistryMode.ReadOnly), Repository);

        Assert.Null(_local.Store.GetManifest(Repository, "anything"));
    }

    [Fact]
    public async Task A_tag_whose_local_push_waits_for_delivery_is_neither_moved_nor_removed()
    {
        var (config, configBytes) = LocalSide.Blob("config-p", 200);
        var local = await StoreLocallyAsync("mine", LocalSide.Manifest(config), (config, configBytes));
        _local.SyncState.SetSynced(Repository, "mine", local.Digest);
        _pending.Setup(p => p.HasPendingTag(Repository, "mine")).Returns(true);
        ParentHas();

        await TagSync().SyncRepositoryAsync(_local.Pass(RegistryMode.ReadOnly), Repository);

        Assert.Equal(local.Digest, _local.Store.GetManifest(Repository, "mine")!.Digest);
    }

    [Fact]
    public async Task A_repository_the_parent_refuses_to_list_is_a_failure_of_its_own()
    {
        _local.Parent.Setup(p => p.ListTagsAsync(Repository, It.IsAny<CancellationToken>()))
            .ThrowsAsync(new ParentRegistryException(System.Net.HttpStatusCode.Forbidden, "DENIED", "parent answered 403 DENIED"));

        var pass = _local.Pass();
        await TagSync().SyncRepositoryAsync(pass, Repository);

        Assert.Contains(pass.Meter.Failures, f => f.StartsWith(Repository + ": ", StringComparison.Ordinal));
    }

    private TagSync TagSync() =>
        new(_local.Destination, new ManifestGraphSync(_local.Destination), _local.SyncState, _pending.Object, LocalSide.Options, NullLogger.Instance, [_changes.Object]);

    private async Task<ManifestContent> StoreLocallyAsync(string tag, ManifestContent manifest, params (Descriptor Descriptor, byte[] Bytes)[] blobs)
    {
        foreach (var (descriptor, bytes) in blobs)
        {
            await _local.Store.WriteBlobAsync(Repository, descriptor.Digest, new MemoryStream(bytes));
        }

        await _local.Store.PutManifestAsync(Repository, manifest.Bytes, manifest.MediaType, tag);
        return manifest;
    }

    /// <summary>The parent holds these tags (and their manifests), and has no referrers API.</summary>
    private void ParentHas(params (string Tag, ManifestContent Manifest)[] tags)
    {
        _local.Parent.Setup(p => p.ListTagsAsync(Repository, It.IsAny<CancellationToken>())).ReturnsAsync(tags.Select(t => t.Tag).ToList());
        foreach (var (tag, manifest) in tags)
        {
            _local.Parent.Setup(p => p.HeadManifestAsync(Repository, tag, It.IsAny<CancellationToken>()))
                .ReturnsAsync(new ManifestInfo(manifest.Digest, manifest.MediaType, manifest.Bytes.Length));
            _local.Parent.Setup(p => p.GetManifestAsync(Repository, manifest.Digest.ToString(), It.IsAny<CancellationToken>())).ReturnsAsync(manifest);
        }

        _local.Parent.Setup(p => p.ReferrersAsync(Repository, It.IsAny<Digest>(), It.IsAny<CancellationToken>(), false)).ReturnsAsync((IReadOnlyList<Descriptor>?)null);
    }
}
