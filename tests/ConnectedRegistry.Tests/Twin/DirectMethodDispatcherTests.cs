using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

public class DirectMethodDispatcherTests
{
    private static DirectMethodDispatcher Build(Action<IServiceCollection> configure)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<DirectMethodDispatcher>();
        configure(services);
        return services.BuildServiceProvider().GetRequiredService<DirectMethodDispatcher>();
    }

    [Fact]
    public async Task A_registered_method_gets_its_parsed_payload()
    {
        JToken? seen = null;
        var dispatcher = Build(s => s.AddDirectMethod("echo", (_, payload, _) =>
        {
            seen = payload;
            return Task.FromResult(DirectMethodResult.Ok(new JObject { ["echo"] = payload }));
        }));

        var result = await dispatcher.DispatchAsync("echo", """{ "n": 1 }""", CancellationToken.None);

        Assert.Equal(200, result.Status);
        Assert.Equal(1, seen!["n"]!.Value<int>());
        Assert.Equal(1, result.Payload["echo"]!["n"]!.Value<int>());
    }

    [Fact]
    public async Task An_unknown_method_is_404_with_a_json_error_listing_the_known_ones()
    {
        var dispatcher = Build(s => s.AddDirectMethod("b", (_, _, _) => Task.FromResult(DirectMethodResult.Ok())).AddDirectMethod("a", (_, _, _) => Task.FromResult(DirectMethodResult.Ok())));

        var result = await dispatcher.DispatchAsync("nope", "", CancellationToken.None);

        Assert.Equal(404, result.Status);
        Assert.Equal("MethodNotFound", result.Payload["error"]!["code"]!.Value<string>());
        Assert.Equal("Unknown method 'nope'. Known methods: a, b.", result.Payload["error"]!["message"]!.Value<string>());
    }

    [Fact]
    public async Task A_payload_that_is_not_json_is_400()
    {
        var called = false;
        var dispatcher = Build(s => s.AddDirectMethod("m", (_, _, _) =>
        {
            called = true;
            return Task.FromResult(DirectMethodResult.Ok());
        }));

        var result = await dispatcher.DispatchAsync("m", "{not json", CancellationToken.None);

        Assert.Equal(400, result.Status);
        Assert.Equal("BadPayload", result.Payload["error"]!["code"]!.Value<string>());
        Assert.False(called);
    }

    [Fact]
    public async Task Handler_exceptions_become_their_status_or_500()
    {
        var dispatcher = Build(s => s
            .AddDirectMethod("refuse", (_, _, _) => throw new DirectMethodException(409, "Busy", "already running"))
            .AddDirectMethod("crash", (_, _, _) => throw new InvalidOperationException("boom")));

        var refused = await dispatcher.DispatchAsync("refuse", "null", CancellationToken.None);
        var crashed = await dispatcher.DispatchAsync("crash", "", CancellationToken.None);

        Assert.Equal((409, "Busy", "already running"), (refused.Status, refused.Payload["error"]!["code"]!.Value<string>(), refused.Payload["error"]!["message"]!.Value<string>()));
        Assert.Equal(500, crashed.Status);
        Assert.Equal("'crash' failed: boom", crashed.Payload["error"]!["message"]!.Value<string>());
    }

    [Fact]
    public async Task Garbage_collect_without_a_collector_is_501()
    {
        var dispatcher = Build(s => s.AddDirectMethod<GarbageCollectMethod>("garbageCollect"));

        var result = await dispatcher.DispatchAsync("garbageCollect", "{}", CancellationToken.None);

        Assert.Equal(501, result.Status);
        Assert.Equal("NotImplemented", result.Payload["error"]!["code"]!.Value<string>());
    }

    [Fact]
    public async Task Garbage_collect_runs_the_registered_collector_and_rejects_a_non_object_payload()
    {
        var collector = new CountingCollector();
        var dispatcher = Build(s => s.AddSingleton<IGarbageCollector>(collector).AddDirectMethod<GarbageCollectMethod>("garbageCollect"));

        var result = await dispatcher.DispatchAsync("garbageCollect", "", CancellationToken.None);
        var bad = await dispatcher.DispatchAsync("garbageCollect", "[1]", CancellationToken.None);

        Assert.Equal(200, result.Status);
        Assert.Equal(3, result.Payload["blobsDeleted"]!.Value<int>());
        Assert.Equal(4096, result.Payload["bytesFreed"]!.Value<long>());
        Assert.Equal(1500, result.Payload["durationMs"]!.Value<long>());
        Assert.Equal(400, bad.Status);
        Assert.Equal(1, collector.Calls);
    }

    private sealed class CountingCollector : IGarbageCollector
    {
        public int Calls { get; private set; }

        public Task<GarbageCollectionResult> CollectAsync(CancellationToken cancellationToken)
        {
            Calls++;
            return Task.FromResult(new GarbageCollectionResult(3, 4096, 1, TimeSpan.FromMilliseconds(1500)));
        }
    }
}
