using ConnectedRegistry.Core;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>Garbage collections run one after another until <paramref name="stop"/>: the race partner of the eviction and retention tests.</summary>
public static class BackToBackCollections
{
    /// <summary>Starts the collections; the task ends with how many ran once <paramref name="stop"/> is cancelled.</summary>
    public static Task<int> RunAsync(IGarbageCollector collector, CancellationToken stop) => Task.Run(async () =>
    {
        var n = 0;
        while (!stop.IsCancellationRequested)
        {
            await collector.CollectAsync(CancellationToken.None);
            n++;
        }

        return n;
    });
}
