using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Twin;

/// <summary><c>sync.filters</c> and <c>sync.platforms</c> through the real module twin (test edgeHub over MQTT): applied, or rejected with every reason while the last good filters keep running.</summary>
public sealed class SyncFilterTwinTests : IAsyncLifetime
{
    private EdgeHarness _edge = null!;

    public async Task InitializeAsync()
    {
        _edge = await EdgeHarness.StartAsync();
        _edge.Hub.SetDesired(TwinJson.ParseObject("""
            { "schemaVersion": "1.0", "name": "factory-line-1",
              "sync": { "repositories": ["factory/*"], "platforms": ["linux/arm64"],
                        "filters": [{ "repositories": ["factory/*"], "includeTags": "^v?\\d+\\.\\d+\\.\\d+$", "excludeTags": "-(rc|dev)" }] } }
            """), 5);
    }

    public async Task DisposeAsync() => await _edge.DisposeAsync();

    private JObject Reported => _edge.Hub.Reported;

    [Fact]
    public async Task A_bad_regex_is_rejected_with_its_reason_and_the_last_good_filters_keep_running()
    {
        await _edge.StartModuleAsync();
        await Poll.UntilAsync(() => _edge.Settings.Current.Sync.Filters.Count == 1, "the first twin's filters applied", TimeSpan.FromSeconds(15));
        var good = _edge.Settings.Current;
        Assert.Equal(["linux/arm64"], good.Sync.Platforms);
        await Poll.UntilAsync(() => Reported["lastDesiredStatus"]?["code"]?.Value<int>() == 200, "200 reported", TimeSpan.FromSeconds(15));

        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""
            { "sync": { "platforms": ["linux/arm64", "arm64"], "filters": [{ "repositories": ["factory/*"], "includeTags": "^v(\\d+" }] } }
            """));

        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == 6, "version 6 reported", TimeSpan.FromSeconds(15));
        var status = Reported["lastDesiredStatus"]!;
        Assert.Equal(400, status["code"]!.Value<int>());
        var description = status["description"]!.Value<string>()!;
        Assert.StartsWith("rejected, the last good settings stay in force: sync.platforms[1] 'arm64' is not a platform", description, StringComparison.Ordinal);
        Assert.Contains("; sync.filters[0].includeTags '^v(\\d+' is not a valid regular expression: ", description, StringComparison.Ordinal);
        Assert.Same(good, _edge.Settings.Current);

        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "sync": { "platforms": null, "filters": [{ "repositories": ["*"], "excludeTags": "^nightly" }] } }"""));
        await Poll.UntilAsync(() => _edge.Settings.Current.Sync.Filters is [{ ExcludeTags: "^nightly" }], "the fixed filters applied", TimeSpan.FromSeconds(15));
        Assert.Empty(_edge.Settings.Current.Sync.Platforms);
        await Poll.UntilAsync(() => Reported["lastDesiredStatus"]?["code"]?.Value<int>() == 200, "200 reported", TimeSpan.FromSeconds(15));
    }
}
