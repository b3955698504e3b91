using System.Collections.Concurrent;
using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Distribution;

/// <summary>Client pushes and deletes reach every <see cref="IRegistryEventSink"/>; writes through the storage facade (sync) do not.</summary>
public sealed class RegistryEventTests : IAsyncLifetime
{
    private readonly RecordingSink _first = new();
    private readonly RecordingSink _second = new();
    private RegistryInstance _registry = null!;

    public async Task InitializeAsync() =>
        _registry = await RegistryInstance.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton<IRegistryEventSink>(new ThrowingSink());
            builder.Services.AddSingleton<IRegistryEventSink>(_first);
            builder.Services.AddSingleton<IRegistryEventSink>(_second);
        });

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        _registry.DeleteData();
    }

    [Fact]
    public async Task Push_by_tag_delete_tag_and_delete_manifest_are_reported_to_every_sink()
    {
        var image = TestContent.Image("events");
        await _registry.Client.PushImageAsync("events/app", "v1", image);
        Assert.Equal(HttpStatusCode.Accepted, (await _registry.Client.DeleteAsync("/v2/events/app/manifests/v1")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await _registry.Client.DeleteAsync($"/v2/events/app/manifests/{image.Manifest.Digest}")).StatusCode);

        string[] expected =
        [
            $"pushed events/app {image.Manifest.Digest} {MediaTypes.OciManifest} v1",
            "tag-deleted events/app v1",
            $"deleted events/app {image.Manifest.Digest}",
        ];
        Assert.Equal(expected, _first.Events);
        Assert.Equal(expected, _second.Events);
    }

    [Fact]
    public async Task Push_by_digest_reports_no_tag()
    {
        var image = TestContent.Image("events-digest");
        await _registry.Client.PushImageAsync("events/bydigest", image.Manifest.Digest.ToString(), image);

        Assert.Equal([$"pushed events/bydigest {image.Manifest.Digest} {MediaTypes.OciManifest} -"], _first.Events);
    }

    [Fact]
    public async Task Failed_pushes_and_facade_writes_raise_nothing()
    {
        var image = TestContent.Image("events-sync");
        var refused = await _registry.Client.PutManifestAsync("events/sync", "v1", image.Manifest);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);

        var store = _registry.App.Services.GetRequiredService<RegistryStore>();
        foreach (var blob in image.Blobs)
        {
            await store.WriteBlobAsync("events/sync", blob.Digest, new MemoryStream(blob.Bytes));
        }

        await store.PutManifestAsync("events/sync", image.Manifest.Bytes, image.Manifest.MediaType, "v1");
        await store.DeleteTagAsync("events/sync", "v1");
        await store.DeleteManifestAsync("events/sync", image.Manifest.Digest);

        Assert.Empty(_first.Events);
    }

    private sealed class RecordingSink : IRegistryEventSink
    {
        private readonly ConcurrentQueue<string> _events = new();

        public IReadOnlyList<string> Events => [.. _events];

        public void ManifestPushed(string repository, Digest digest, string mediaType, string? tag) =>
            _events.Enqueue($"pushed {repository} {digest} {mediaType} {tag ?? "-"}");

        public void ManifestDeleted(string repository, Digest digest) => _events.Enqueue($"deleted {repository} {digest}");

        public void TagDeleted(string repository, string tag) => _events.Enqueue($"tag-deleted {repository} {tag}");
    }

    /// <summary>A broken sink must not break the client's request nor starve the other sinks.</summary>
    private sealed class ThrowingSink : IRegistryEventSink
    {
        public void ManifestPushed(string repository, Digest digest, string mediaType, string? tag) => throw new InvalidOperationException("sink down");

        public void ManifestDeleted(string repository, Digest digest) => throw new InvalidOperationException("sink down");

        public void TagDeleted(string repository, string tag) => throw new InvalidOperationException("sink down");
    }
}
