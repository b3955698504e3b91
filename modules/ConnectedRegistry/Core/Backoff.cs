namespace ConnectedRegistry.Core;

/// <summary>
/// The wait before trying again after failures in a row: doubling from <see cref="First"/> up to <see cref="Max"/>
/// (the first wait is capped too); with <see cref="Jitter"/> each wait is drawn between half and all of it, so that the
/// children of one parent do not try again in step.
/// <para>
/// Retrying one call goes through Polly (<c>DelayBackoffType.Exponential</c>, the same shape: the parent client's
/// pipeline, the event queue, the blob transfers, the MQTT connection, the workload API). This helper is for the three
/// loops that are not a retry of one call but a schedule or a poll whose waits lengthen after failures, where Polly
/// cannot own the wait: the sync scheduler (the wait also ends on a wake, a push or a closing window), the change feed
/// (a long poll that reads its settings and credentials afresh each round, and waits other pauses between) and the TLS
/// renewal (due at an absolute time, so a clock that jumps past it renews at once, which a delay armed after the
/// failure would not).
/// </para>
/// </summary>
public sealed record Backoff(TimeSpan First, TimeSpan Max, bool Jitter = false)
{
    /// <summary>The wait after the <paramref name="failures"/>-th failure in a row (1 for the first).</summary>
    public TimeSpan After(int failures)
    {
        var ticks = First.Ticks * Math.Pow(2, Math.Clamp(failures - 1, 0, 30));
        var ceiling = ticks >= Max.Ticks ? Max : TimeSpan.FromTicks((long)ticks);
        return Jitter ? ceiling * (0.5 + (Random.Shared.NextDouble() / 2)) : ceiling;
    }
}
