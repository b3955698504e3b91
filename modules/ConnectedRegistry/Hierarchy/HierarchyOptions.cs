using ConnectedRegistry.Core;

namespace ConnectedRegistry.Hierarchy;

/// <summary>Tunables of the hierarchy (configuration section <c>Hierarchy</c>, e.g. <c>--Hierarchy:FeedWaitSeconds 30</c>).</summary>
public sealed record HierarchyOptions
{
    /// <summary>Changes kept in the change log at most.</summary>
    public int ChangeLogMaxEntries { get; init; } = 10_000;

    /// <summary>Changes older than this are dropped from the change log.</summary>
    public TimeSpan ChangeLogMaxAge { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Longest long-poll the parent grants (<c>wait</c> is capped to it).</summary>
    public int MaxWaitSeconds { get; init; } = 60;

    /// <summary>How long the child's change feed waits per request.</summary>
    public int FeedWaitSeconds { get; init; } = 30;

    /// <summary>
    /// Largest change-feed answer the child reads (4 MiB: a page of 1000 changes is about 300 KB); one over it is
    /// refused without being read further.
    /// </summary>
    public long MaxFeedAnswerBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>How long the child leaves the work to its sync schedule after refusing a change-feed answer over the limit.</summary>
    public TimeSpan FeedRefusedPause { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Pause of the child's change feed after an error (doubles up to 60 s).</summary>
    public TimeSpan FeedRetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often a child's last contact is written to the database and the reported properties.</summary>
    public TimeSpan LastSeenInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of one activation or deactivation request to the parent.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The four keys an operator may tune; each checked (<see cref="StartupConfiguration"/>).</summary>
    /// <exception cref="StartupException">A value is not a whole number, or out of its range.</exception>
    public static HierarchyOptions FromConfiguration(IConfiguration configuration)
    {
        const string Section = "Hierarchy";
        StartupConfiguration.Require(configuration, Section, nameof(ChangeLogMaxEntries), 1);
        StartupConfiguration.Require(configuration, Section, nameof(MaxWaitSeconds), 0);
        StartupConfiguration.Require(configuration, Section, nameof(FeedWaitSeconds), 0);
        StartupConfiguration.Require(configuration, Section, nameof(MaxFeedAnswerBytes), SettingRules.Bytes(1024));
        var defaults = new HierarchyOptions();
        var section = configuration.GetSection(Section);
        return defaults with
        {
            ChangeLogMaxEntries = StartupConfiguration.Value(section, nameof(ChangeLogMaxEntries), defaults.ChangeLogMaxEntries),
            MaxWaitSeconds = StartupConfiguration.Value(section, nameof(MaxWaitSeconds), defaults.MaxWaitSeconds),
            FeedWaitSeconds = StartupConfiguration.Value(section, nameof(FeedWaitSeconds), defaults.FeedWaitSeconds),
            MaxFeedAnswerBytes = StartupConfiguration.Value(section, nameof(MaxFeedAnswerBytes), defaults.MaxFeedAnswerBytes),
        };
    }
}
