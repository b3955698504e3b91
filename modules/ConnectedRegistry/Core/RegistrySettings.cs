namespace ConnectedRegistry.Core;

/// <summary>
/// The running configuration: the module twin's desired properties after they were parsed and
/// validated (Twin/ owns parsing and validation; everything else only reads this). Immutable: a new
/// instance replaces the old one atomically through <see cref="RegistrySettingsStore"/>.
/// Holds no secret in clear: tokens carry password hashes only; the parent sync password comes from
/// the environment.
/// </summary>
public sealed record RegistrySettings
{
    public static RegistrySettings Default { get; } = new();

    public string SchemaVersion { get; init; } = "1.0";

    /// <summary>This registry's identity (5–40 characters, starting with a letter); null when not set.</summary>
    public string? Name { get; init; }

    public RegistryMode Mode { get; init; } = RegistryMode.ReadWrite;

    /// <summary>Null when there is no parent (a standalone or top-of-tree registry).</summary>
    public ParentSettings? Parent { get; init; }

    public SyncSettings Sync { get; init; } = new();

    /// <summary>Client tokens by name.</summary>
    public IReadOnlyDictionary<string, ClientTokenSettings> ClientTokens { get; init; } =
        new Dictionary<string, ClientTokenSettings>(StringComparer.Ordinal);

    /// <summary>Child registries by their registry name.</summary>
    public IReadOnlyDictionary<string, ChildRegistrySettings> Children { get; init; } =
        new Dictionary<string, ChildRegistrySettings>(StringComparer.Ordinal);

    public GarbageCollectionSettings GarbageCollection { get; init; } = new();

    /// <summary>Pull without credentials. Off unless the twin turns it on.</summary>
    public bool AnonymousPull { get; init; }

    public string LogLevel { get; init; } = "Information";

    /// <summary>Which client pushes and deletes become <c>events</c> messages: <c>repository[:tag]:action</c> patterns (empty: none).</summary>
    public IReadOnlyList<string> Notifications { get; init; } = [];

    public StorageSettings Storage { get; init; } = new();

    /// <summary>Offline bundles (<c>bundles</c>): the exporter keys trusted for import.</summary>
    public BundleSettings Bundles { get; init; } = new();
}

public sealed record StorageSettings
{
    /// <summary>Free bytes the data volume keeps: below it client writes are refused and sync down pauses. Null: the smaller of 1 GiB and 5 % of the volume.</summary>
    public long? MinFreeBytes { get; init; }

    /// <summary>
    /// Free bytes below which content fetched on demand (and not kept by the sync set) is evicted, least recently pulled
    /// first, until the volume is above it again. Null: <see cref="DefaultEvictionFactor"/> times the minimum in force.
    /// </summary>
    public long? EvictBelowFreeBytes { get; init; }

    /// <summary>Nothing pulled (or fetched on demand) within this period is evicted.</summary>
    public TimeSpan PinPulledWithin { get; init; } = DefaultPinPulledWithin;

    /// <summary>The default of <see cref="PinPulledWithin"/>: 7 days, so a deployment of last week still pulls offline.</summary>
    public static readonly TimeSpan DefaultPinPulledWithin = TimeSpan.FromDays(7);

    /// <summary>The default eviction mark is this many times <c>storage.minFreeBytes</c> in force.</summary>
    public const int DefaultEvictionFactor = 3;
    /// <summary><c>storage.retention</c>: which tags and untagged manifests the retention pass removes (none: everything stays).</summary>
    public RetentionSettings Retention { get; init; } = new();
}

public enum RegistryMode
{
    ReadWrite,
    ReadOnly,
}

public sealed record ParentSettings
{
    /// <summary>The parent's base address, for example https://parent.example or http://127.0.0.1:5001.</summary>
    public required Uri Endpoint { get; init; }

    /// <summary>The user name presented to the parent; the password is in the environment.</summary>
    public string? SyncTokenName { get; init; }

    /// <summary>
    /// <c>parent.trustedRealmHosts</c>: hosts other than the parent's own that may receive the sync token's credentials
    /// over https (a token realm or a <c>Link</c> the parent names there), in lower case; empty: none.
    /// </summary>
    public IReadOnlyList<string> TrustedRealmHosts { get; init; } = [];
}

public sealed record SyncSettings
{
    public const string ContinuousSchedule = "* * * * *";

    /// <summary>Five-field cron expression (UTC). Every minute with no window means continuous sync.</summary>
    public string Schedule { get; init; } = ContinuousSchedule;

    /// <summary>How long a sync window stays open after each schedule occurrence (PT1H–P7D); null for continuous.</summary>
    public TimeSpan? Window { get; init; }

    /// <summary>How long an undelivered change is kept (P1D–P90D).</summary>
    public TimeSpan MessageTtl { get; init; } = TimeSpan.FromDays(2);

    /// <summary>Repository names and <c>prefix/*</c> wildcards to keep in sync.</summary>
    public IReadOnlyList<string> Repositories { get; init; } = [];

    /// <summary>The cap on traffic to and from the parent (<c>sync.bandwidth</c>); no cap by default.</summary>
    public BandwidthSettings Bandwidth { get; init; } = BandwidthSettings.Unlimited;

    /// <summary>Whether a client's miss in the sync set is fetched from the parent at once (on-demand pull-through).</summary>
    public bool OnDemand { get; init; } = true;

    /// <summary>
    /// <c>sync.parentIdleTimeout</c>: how long a body the parent sends (a blob, a manifest, a listing) may bring no
    /// byte before the read is given up as stalled (a blob's download then resumes with a new request).
    /// </summary>
    public TimeSpan ParentIdleTimeout { get; init; } = DefaultParentIdleTimeout;

    public static readonly TimeSpan DefaultParentIdleTimeout = TimeSpan.FromSeconds(30);

    /// <summary><c>sync.platforms</c>: the <c>os/arch[/variant]</c> an index's entries are synced for; empty: all.</summary>
    public IReadOnlyList<string> Platforms { get; init; } = [];

    /// <summary><c>sync.filters</c>: tag and platform filters per repository pattern; the first entry that matches applies.</summary>
    public IReadOnlyList<SyncFilterSettings> Filters { get; init; } = [];

    public bool IsContinuous => Schedule.Trim() == ContinuousSchedule && Window is null;
}

public sealed record ClientTokenSettings
{
    public required string PasswordHash { get; init; }

    /// <summary>Repository pattern (exact name, <c>prefix/*</c> or <c>*</c>) → actions such as <c>content/read</c>.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<string>> ScopeMap { get; init; }

    public bool Enabled { get; init; } = true;

    public DateTimeOffset? Expiry { get; init; }
}

public sealed record ChildRegistrySettings
{
    public RegistryMode Mode { get; init; } = RegistryMode.ReadOnly;

    public required string SyncTokenPasswordHash { get; init; }

    public IReadOnlyList<string> Repositories { get; init; } = [];

    /// <summary>The child's <c>platforms</c>: empty (a child that names none, an older one) means every platform.</summary>
    public IReadOnlyList<string> Platforms { get; init; } = [];

    /// <summary>The child's <c>filters</c>, as in <see cref="SyncSettings.Filters"/>; empty: every tag.</summary>
    public IReadOnlyList<SyncFilterSettings> Filters { get; init; } = [];
}

/// <summary>One entry of <c>sync.filters</c> (or a child's <c>filters</c>), as validated by the twin parser through <see cref="SyncFilter"/>.</summary>
public sealed record SyncFilterSettings
{
    /// <summary>Repository patterns (exact name, <c>prefix/*</c> or <c>*</c>) this entry applies to.</summary>
    public IReadOnlyList<string> Repositories { get; init; } = [];

    /// <summary>Tags are synced only when they match this regular expression; null: every tag.</summary>
    public string? IncludeTags { get; init; }

    /// <summary>Tags that match this regular expression are not synced; null: none is excluded.</summary>
    public string? ExcludeTags { get; init; }

    /// <summary>Platforms for the entry's repositories; null: <c>sync.platforms</c>.</summary>
    public IReadOnlyList<string>? Platforms { get; init; }

    /// <summary>
    /// <c>newest</c>: of the tags the expressions select, only this many are kept per repository, newest first by
    /// semantic version (<see cref="TagVersion"/>); null: every one.
    /// </summary>
    public int? Newest { get; init; }
}

public sealed record GarbageCollectionSettings
{
    public bool Enabled { get; init; } = true;

    public string Schedule { get; init; } = "0 3 * * *";

    /// <summary>Also remove manifests that no tag and no index references.</summary>
    public bool DeleteUntaggedManifests { get; init; }
}

/// <summary>Read-side of the running configuration.</summary>
public interface IRegistrySettingsSource
{
    RegistrySettings Current { get; }

    /// <summary>
    /// Null once settings have been applied (a desired document now, the last good one of an earlier run, or settings
    /// a host applied itself); until then why none are (no document yet, or the reasons the first ones were rejected),
    /// and <see cref="Current"/> holds only the built-in defaults, an open registry, which nobody may be served with.
    /// </summary>
    string? NotApplied { get; }

    /// <summary>Raised after <see cref="Current"/> changed, with the new settings.</summary>
    event Action<RegistrySettings>? Changed;
}

/// <summary>
/// Holds the last good settings; the twin pipeline stores them after validation succeeded. <see cref="Changed"/>
/// is raised outside the caller's locks and in the order the settings were stored (<see cref="OrderedNotifications"/>).
/// </summary>
public sealed class RegistrySettingsStore : IRegistrySettingsSource
{
    /// <summary>Why nothing is applied before any desired document arrived.</summary>
    public const string NoDocumentYet = "no desired properties have arrived yet";

    private readonly Lock _gate = new();
    private readonly OrderedNotifications _notifications = new();
    private RegistrySettings _current;
    private string? _notApplied;

    /// <param name="initial">Settings already in force (counted as applied); null: the defaults, not applied.</param>
    public RegistrySettingsStore(RegistrySettings? initial = null)
    {
        _current = initial ?? RegistrySettings.Default;
        _notApplied = initial is null ? NoDocumentYet : null;
    }

    public RegistrySettings Current => Volatile.Read(ref _current);

    public string? NotApplied => Volatile.Read(ref _notApplied);

    /// <summary>Records why settings are still not applied (a rejected first document); nothing once some are.</summary>
    public void NotYetApplied(string reason)
    {
        lock (_gate)
        {
            if (_notApplied is not null)
            {
                Volatile.Write(ref _notApplied, reason);
            }
        }
    }

    public event Action<RegistrySettings>? Changed;

    /// <summary>Stores the settings and tells the subscribers.</summary>
    public void Apply(RegistrySettings settings)
    {
        Stage(settings);
        DeliverChanges();
    }

    /// <summary>
    /// Stores the settings and queues <see cref="Changed"/> without raising it, so a caller may do this under its
    /// own lock; it calls <see cref="DeliverChanges"/> once that lock is released.
    /// </summary>
    public void Stage(RegistrySettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        lock (_gate)
        {
            Volatile.Write(ref _current, settings);
            Volatile.Write(ref _notApplied, null);
            _notifications.Post(() => Changed?.Invoke(settings));
        }
    }

    /// <summary>Raises <see cref="Changed"/> for the settings stored so far, in order.</summary>
    public void DeliverChanges() => _notifications.Deliver();
}
