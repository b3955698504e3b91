using System.Globalization;
using System.Net;
using ConnectedRegistry.Events;
using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.IntegrationTests.Twin;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Events;

/// <summary>Events as messages on the module output <c>events</c>, sent by the real module over MQTT to the test edgeHub.</summary>
public sealed class EventsOverMqttTests : IAsyncLifetime
{
    private const string Prefix = $"devices/{EdgeHarness.DeviceId}/modules/{EdgeHarness.ModuleId}/messages/events/";
    private EdgeHarness _edge = null!;

    public async Task InitializeAsync()
    {
        _edge = await EdgeHarness.StartAsync();
        _edge.Hub.SetDesired(TwinJson.ParseObject("""
            { "schemaVersion": "1.0", "name": "factory-line-1", "notifications": ["factory/*:*:push", "factory/app:*:delete"] }
            """), 3);
    }

    public async Task DisposeAsync() => await _edge.DisposeAsync();

    private IReadOnlyList<FakeEdgeHub.OutputMessage> Artifacts =>
        [.. _edge.Hub.OutputMessages.Where(m => m.Properties.GetValueOrDefault("type") is EventTypes.ArtifactPushed or EventTypes.ArtifactDeleted)];

    [Fact]
    public async Task A_push_sends_an_events_message_with_the_body_and_properties_routes_filter_on()
    {
        var module = await _edge.StartModuleAsync();
        var image = TestContent.Image("events-push", layers: 1, layerSize: 1024);
        var before = DateTimeOffset.UtcNow;

        await module.Client.PushImageAsync("other/app", "1.0", image); // not selected by the notifications
        await module.Client.PushImageAsync("factory/app", "1.0", image);

        await Poll.UntilAsync(() => Artifacts.Count >= 1, "the push event");
        var message = Assert.Single(Artifacts); // events go in order: the unselected push, before it, sent nothing

        Assert.StartsWith(Prefix, message.Topic, StringComparison.Ordinal);
        Assert.Contains("%24.on=events", message.Topic, StringComparison.Ordinal);
        Assert.Contains("%24.ct=application%2Fjson", message.Topic, StringComparison.Ordinal);
        Assert.Contains("%24.ce=utf-8", message.Topic, StringComparison.Ordinal);
        Assert.Contains("repository=factory%2Fapp", message.Topic, StringComparison.Ordinal);
        Assert.Equal("events", message.Properties["$.on"]);
        Assert.Equal("application/json", message.Properties["$.ct"]);
        Assert.Equal("utf-8", message.Properties["$.ce"]);
        Assert.Equal(EventTypes.ArtifactPushed, message.Properties["type"]);
        Assert.Equal("factory/app", message.Properties["repository"]);

        var body = message.Json;
        Assert.Equal(message.Properties["$.mid"], body["id"]!.Value<string>());
        Assert.Equal(EventTypes.ArtifactPushed, body["type"]!.Value<string>());
        Assert.Equal("factory-line-1", body["registry"]!.Value<string>());
        Assert.Equal("factory/app", body["repository"]!.Value<string>());
        Assert.Equal("1.0", body["tag"]!.Value<string>());
        Assert.Equal(image.Manifest.Digest.ToString(), body["digest"]!.Value<string>());
        Assert.Equal(image.Manifest.MediaType, body["mediaType"]!.Value<string>());
        Assert.Equal(image.Manifest.Size, body["size"]!.Value<long>());
        var time = body["time"]!.Value<string>()!;
        Assert.EndsWith("Z", time, StringComparison.Ordinal);
        var parsed = DateTimeOffset.Parse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        Assert.InRange(parsed, before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));

        // A tag delete in factory/app is selected; one in other/app is not.
        Assert.Equal(HttpStatusCode.Accepted, (await module.Client.DeleteAsync("/v2/other/app/manifests/1.0")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await module.Client.DeleteAsync("/v2/factory/app/manifests/1.0")).StatusCode);
        await Poll.UntilAsync(() => Artifacts.Count >= 2, "the delete event");
        var deleted = Artifacts[1];
        Assert.Equal(EventTypes.ArtifactDeleted, deleted.Properties["type"]);
        Assert.Equal("factory/app", deleted.Json["repository"]!.Value<string>());
        Assert.Equal("1.0", deleted.Json["tag"]!.Value<string>());
        Assert.Equal(2, Artifacts.Count);
    }

    [Fact]
    public async Task A_burst_of_1000_pushes_while_edgeHub_is_away_is_bounded_drops_the_oldest_and_counts_them()
    {
        const int Capacity = 50;
        const int Pushes = 1000;
        var module = await _edge.StartModuleAsync(extraArgs: ["--Events:QueueCapacity", Capacity.ToString(CultureInfo.InvariantCulture), "--Events:RetryDelayMs", "50"]);
        var twin = module.App.Services.GetRequiredService<ModuleTwinService>();
        var queue = module.App.Services.GetRequiredService<EventQueue>();
        var image = TestContent.Image("events-burst", layers: 1, layerSize: 512);
        foreach (var blob in image.Blobs)
        {
            await module.Client.PushBlobAsync("factory/burst", blob);
        }

        await _edge.Hub.StopAsync();
        await Poll.UntilAsync(() => twin.Client is { IsConnected: false }, "the module noticed edgeHub is gone");
        var sentBefore = queue.Sent;

        // Every push is answered while nothing can be sent; each one is an event (a new tag).
        for (var i = 0; i < Pushes; i++)
        {
            var response = await module.Client.PutManifestAsync("factory/burst", $"t{i:D4}", image.Manifest);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.InRange(queue.Queued, 0, Capacity);
        }

        // Bounded: at most Capacity wait (plus the one the sender holds while it waits for edgeHub); the rest were dropped, counted.
        Assert.InRange(queue.Queued, 0, Capacity);
        Assert.Equal(sentBefore, queue.Sent);
        Assert.InRange(queue.Dropped, Pushes - Capacity - 1, Pushes);
        Assert.True(queue.Dropped + queue.Queued >= Pushes - 1, $"dropped {queue.Dropped} + queued {queue.Queued}");
        var detail = Assert.Single(_edge.State.Snapshot().StatusDetails, d => d.Code == EventQueue.DroppedCode);
        Assert.Contains($"{queue.Dropped} event(s) were dropped", detail.Description, StringComparison.Ordinal);

        // edgeHub back: the newest events arrive, in order; the oldest are gone.
        await _edge.Hub.StartAsync();
        await Poll.UntilAsync(() => Artifacts.Any(m => m.Json["tag"]?.Value<string>() == $"t{Pushes - 1:D4}"), "the newest event delivered", TimeSpan.FromSeconds(20));
        var tags = Artifacts.Select(m => m.Json["tag"]!.Value<string>()!).ToList();
        Assert.InRange(tags.Count, Capacity, Capacity + 1);
        Assert.DoesNotContain("t0100", tags);
        Assert.Equal(tags.Order(StringComparer.Ordinal), tags);
        await Poll.UntilAsync(() => _edge.Hub.Reported["statusDetails"]?.Any(d => d["code"]?.Value<string>() == EventQueue.DroppedCode) == true, "the dropped count reported");
    }
}
