using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Events;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.IntegrationTests.Twin;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Events;

/// <summary>Standalone: <c>--events FILE</c> gets one JSON line per event; without it nothing is written or queued.</summary>
public sealed class EventsFileTests : IAsyncLifetime
{
    private readonly string _folder = TempDirectory.Create("events-file");

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(_folder, "twin"));
        File.WriteAllText(Path.Combine(_folder, "twin", "desired.json"), """{ "schemaVersion": "1.0", "name": "standalone-1", "notifications": ["line/*:*:*"] }""");
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        TempDirectory.Delete(_folder);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Events_go_to_the_file_as_json_lines_selected_by_notifications()
    {
        var events = Path.Combine(_folder, "out", "events.jsonl");
        await using var registry = await RegistryInstance.StartAsync(
            Path.Combine(_folder, "data"), ["--events", events, "--desired", Path.Combine(_folder, "twin", "desired.json")]);
        var image = TestContent.Image("events-file", layers: 1, layerSize: 256);
        await registry.Client.PushImageAsync("other/app", "1", image);
        await registry.Client.PushImageAsync("line/app", "1", image);
        Assert.Equal(HttpStatusCode.Accepted, (await registry.Client.DeleteAsync($"/v2/line/app/manifests/{image.Manifest.Digest}")).StatusCode);

        await Poll.UntilAsync(() => File.Exists(events) && File.ReadAllLines(events).Length >= 2, "two event lines");
        var lines = File.ReadAllLines(events).Select(JObject.Parse).ToList();
        Assert.Equal([EventTypes.ArtifactPushed, EventTypes.ArtifactDeleted], lines.Select(l => l["type"]!.Value<string>()));
        Assert.All(lines, l => Assert.Equal("standalone-1", l["registry"]!.Value<string>()));
        Assert.All(lines, l => Assert.Equal("line/app", l["repository"]!.Value<string>()));
        Assert.Equal("1", lines[0]["tag"]!.Value<string>());
        Assert.Equal(image.Manifest.Digest.ToString(), lines[1]["digest"]!.Value<string>());
    }

    [Fact]
    public async Task Without_an_events_file_nothing_is_queued()
    {
        await using var registry = await RegistryInstance.StartAsync(Path.Combine(_folder, "data"), ["--desired", Path.Combine(_folder, "twin", "desired.json")]);
        await registry.Client.PushImageAsync("line/app", "1", TestContent.Image("events-none", layers: 1, layerSize: 256));
        var queue = registry.App.Services.GetRequiredService<EventQueue>();
        Assert.Equal(0, queue.Queued);
        Assert.Equal(0, queue.Sent);
        Assert.Equal(0, queue.Dropped);
        Assert.Empty(Directory.GetFiles(_folder, "*.jsonl", SearchOption.AllDirectories));
    }
}
