namespace ConnectedRegistry.Core;

/// <summary>
/// The twin's <c>sync.bandwidth</c>: a cap on all traffic to and from the parent, in megabits per second, that
/// may follow the working day. <see cref="LimitMbps"/> applies outside every schedule (null: no cap); each
/// <see cref="BandwidthSchedule"/> sets its own cap while its window is open.
/// </summary>
public sealed record BandwidthSettings
{
    public static BandwidthSettings Unlimited { get; } = new();

    /// <summary>The cap outside every schedule; null for none.</summary>
    public double? LimitMbps { get; init; }

    public IReadOnlyList<BandwidthSchedule> Schedules { get; init; } = [];

    public bool Equals(BandwidthSettings? other) =>
        other is not null && LimitMbps == other.LimitMbps && Schedules.SequenceEqual(other.Schedules);

    public override int GetHashCode() => HashCode.Combine(LimitMbps, Schedules.Count);
}

/// <summary>From each occurrence of <see cref="Cron"/> (5 fields, UTC), for <see cref="Duration"/>, the cap is <see cref="LimitMbps"/>.</summary>
public sealed record BandwidthSchedule(string Cron, TimeSpan Duration, double LimitMbps);
