namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// The lowest free space of the volume seen while it lives (or since <see cref="Reset"/>), read every millisecond; with a
/// threshold, also when it first went below it (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).
/// </summary>
public sealed class LowestFree : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _watch;
    private long _lowest = long.MaxValue;
    private long _firstBelow;

    public LowestFree(TmpfsVolume volume, long threshold = long.MinValue)
    {
        _watch = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                var free = volume.FreeBytes;
                if (free < Interlocked.Read(ref _lowest))
                {
                    Interlocked.Exchange(ref _lowest, free);
                }

                if (free < threshold)
                {
                    Interlocked.CompareExchange(ref _firstBelow, System.Diagnostics.Stopwatch.GetTimestamp(), 0);
                }

                await Task.Delay(1);
            }
        });
    }

    public long Bytes => Interlocked.Read(ref _lowest);

    /// <summary>When the free space first went below the threshold since the start or the last <see cref="Reset"/>; null: it did not.</summary>
    public long? FirstBelow => Interlocked.Read(ref _firstBelow) is var at and not 0 ? at : null;

    /// <summary>Starts over: no lowest reading, not below the threshold.</summary>
    public void Reset()
    {
        Interlocked.Exchange(ref _lowest, long.MaxValue);
        Interlocked.Exchange(ref _firstBelow, 0);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _watch.Wait();
        _stop.Dispose();
    }
}
