namespace ConnectedRegistry.Core;

/// <summary>
/// The module's live state, fed by every part (storage, sync, activation, children) and turned into
/// reported properties by Twin/ (batched and rate-limited there). Parts only set their own section;
/// nothing here is a secret.
/// </summary>
public sealed class ModuleState
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, StatusDetail> _details = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ChildStatus> _children = new(StringComparer.Ordinal);
    private string _activationState = ActivationStates.Inactive;
    private string _connectionState = ConnectionStates.Offline;
    private bool _activationSet;
    private bool _connectionSet;
    private long _connectionVersion;
    private DateTimeOffset? _previousRunSince;
    private LoginServerStatus? _loginServer;
    private SyncStatus _sync = new();
    private StorageStatus _storage = new();
    private EvictionStatus? _evicted;
    private RetentionStatus? _retention;

    /// <summary>Raised after any section changed. Handlers must be cheap (they run on the caller's thread).</summary>
    public event Action? Changed;

    public ModuleStateSnapshot Snapshot()
    {
        lock (_gate)
        {
            return new ModuleStateSnapshot(
                _activationState,
                _connectionState,
                [.. _details.Values.OrderBy(d => d.Code, StringComparer.Ordinal)],
                _loginServer,
                _sync,
                _storage,
                new Dictionary<string, ChildStatus>(_children, StringComparer.Ordinal))
            {
                Evicted = _evicted,
                Retention = _retention,
                PreviousRun = _previousRunSince is { } since && (!_activationSet || !_connectionSet)
                    ? new PreviousRunState(since, ActivationState: !_activationSet, ConnectionState: !_connectionSet)
                    : null,
            };
        }
    }

    /// <summary>
    /// At start, the activation and connection state the previous run last reported, shown until a part of this run
    /// sets its own (the activation result, the first pass): a restart no longer reports a false <c>Inactive</c> and
    /// <c>Offline</c> while nothing has been tried yet. A state this run has already set is kept.
    /// </summary>
    public void SeedFromPreviousRun(string? activationState, string? connectionState, DateTimeOffset since)
    {
        lock (_gate)
        {
            if (!_activationSet && activationState is not null)
            {
                _activationState = activationState;
            }

            if (!_connectionSet && connectionState is not null)
            {
                _connectionState = connectionState;
            }

            _previousRunSince = since;
        }

        Changed?.Invoke();
    }

    public void SetActivationState(string state) => Set(() => (_activationState, _activationSet) = (state, true), () => !_activationSet || _activationState != state);

    public void SetConnectionState(string state) => Set(() => SetConnection(state), () => !_connectionSet || _connectionState != state);

    /// <summary>
    /// Sets the connection state only when <paramref name="when"/> holds for the current one; returns the version of the
    /// state it set (for <see cref="TrySetConnectionState(long, string)"/>), or null when it set nothing. For a part that
    /// knows only one side of the link (the change feed) and must not overwrite what the scheduler knows.
    /// </summary>
    public long? TrySetConnectionState(Func<string, bool> when, string state)
    {
        long version;
        lock (_gate)
        {
            if (!when(_connectionState))
            {
                return null;
            }

            if (_connectionState == state)
            {
                return null;
            }

            version = SetConnection(state);
        }

        Changed?.Invoke();
        return version;
    }

    /// <summary>Sets the connection state only when nobody has set it since the version <paramref name="expected"/>.</summary>
    public bool TrySetConnectionState(long expected, string state)
    {
        lock (_gate)
        {
            if (_connectionVersion != expected || _connectionState == state)
            {
                return false;
            }

            SetConnection(state);
        }

        Changed?.Invoke();
        return true;
    }

    private long SetConnection(string state)
    {
        _connectionState = state;
        _connectionSet = true;
        return ++_connectionVersion;
    }

    public void SetLoginServer(LoginServerStatus loginServer) => Set(() => _loginServer = loginServer, () => _loginServer != loginServer);

    public void SetSync(SyncStatus sync) => Set(() => _sync = sync, () => _sync != sync);

    /// <summary>Changes the sync section from its current value, atomically.</summary>
    public void UpdateSync(Func<SyncStatus, SyncStatus> update)
    {
        bool changed;
        lock (_gate)
        {
            var next = update(_sync);
            changed = next != _sync;
            _sync = next;
        }

        if (changed)
        {
            Changed?.Invoke();
        }
    }

    public void SetStorage(StorageStatus storage) => Set(() => _storage = storage, () => _storage != storage);

    /// <summary>The last eviction of content fetched on demand (reported as <c>storage.evicted</c>).</summary>
    public void SetEvicted(EvictionStatus evicted) => Set(() => _evicted = evicted, () => _evicted != evicted);
    /// <summary>The outcome of the last retention pass (reported as <c>storage.retention</c>).</summary>
    public void SetRetention(RetentionStatus retention) => Set(() => _retention = retention, () => _retention != retention);

    /// <summary>The last retention pass alone (cheaper than <see cref="Snapshot"/> for a <see cref="Changed"/> handler).</summary>
    public RetentionStatus? Retention
    {
        get
        {
            lock (_gate)
            {
                return _retention;
            }
        }
    }

    /// <summary>The sync section alone (cheaper than <see cref="Snapshot"/> for a <see cref="Changed"/> handler).</summary>
    public SyncStatus Sync
    {
        get
        {
            lock (_gate)
            {
                return _sync;
            }
        }
    }

    public void SetChild(string name, ChildStatus status) => Set(() => _children[name] = status, () => !_children.TryGetValue(name, out var old) || old != status);

    public void RemoveChild(string name) => Set(() => _children.Remove(name), () => _children.ContainsKey(name));

    /// <summary>Raises or refreshes a status detail identified by its code (for example <c>DiskError</c>).</summary>
    public void SetStatusDetail(StatusDetail detail) => Set(() => _details[detail.Code] = detail, () => !_details.TryGetValue(detail.Code, out var old) || old with { Timestamp = detail.Timestamp } != detail);

    public void ClearStatusDetail(string code) => Set(() => _details.Remove(code), () => _details.ContainsKey(code));

    private void Set(Action apply, Func<bool> differs)
    {
        lock (_gate)
        {
            if (!differs())
            {
                return;
            }

            apply();
        }

        Changed?.Invoke();
    }
}

public static class ActivationStates
{
    public const string Active = "Active";
    public const string Inactive = "Inactive";
}

public static class ConnectionStates
{
    public const string Online = "Online";
    public const string Syncing = "Syncing";
    public const string Offline = "Offline";
    public const string Unhealthy = "Unhealthy";
}

public sealed record ModuleStateSnapshot(
    string ActivationState,
    string ConnectionState,
    IReadOnlyList<StatusDetail> StatusDetails,
    LoginServerStatus? LoginServer,
    SyncStatus Sync,
    StorageStatus Storage,
    IReadOnlyDictionary<string, ChildStatus> Children)
{
    /// <summary>The last retention pass of this run; null before the first.</summary>
    public RetentionStatus? Retention { get; init; }

    /// <summary>Which of the states are still the previous run's (null: none), and since when it reported them.</summary>
    public PreviousRunState? PreviousRun { get; init; }

    /// <summary>The last eviction of content fetched on demand; null while none ran.</summary>
    public EvictionStatus? Evicted { get; init; }
}

/// <summary>The states shown from the previous run until this run knows its own.</summary>
public sealed record PreviousRunState(DateTimeOffset Since, bool ActivationState, bool ConnectionState);

/// <summary>Type is Error, Warning or Information.</summary>
public sealed record StatusDetail(string Code, string Type, string Description, DateTimeOffset Timestamp);

public sealed record LoginServerStatus(string Host, string Tls);

public sealed record SyncProgress(
    string State,
    int RepositoriesDone,
    int RepositoriesTotal,
    long BytesDone,
    long BytesTotal,
    long? EtaSeconds);

public sealed record SyncStatus
{
    public DateTimeOffset? LastSyncTime { get; init; }

    public DateTimeOffset? NextSyncTime { get; init; }

    public DateTimeOffset? WindowEndTime { get; init; }

    public SyncProgress? Progress { get; init; }

    public int PendingPushes { get; init; }

    public string? LastError { get; init; }

    /// <summary>The cap on traffic to and from the parent now in force (<c>sync.bandwidth</c>); null: no cap.</summary>
    public double? BandwidthLimitMbps { get; init; }

    /// <summary>Content fetched from the parent on demand since the start (manifests and blobs).</summary>
    public long OnDemandFetches { get; init; }

    /// <summary>The last content fetched on demand.</summary>
    public OnDemandFetchStatus? LastOnDemandFetch { get; init; }
}

/// <summary>One on-demand fetch: <c>repository:tag</c> or <c>repository@digest</c>, and when it was stored.</summary>
public sealed record OnDemandFetchStatus(string Reference, DateTimeOffset Time);

/// <summary>One eviction of content fetched on demand: when it ended, how many manifests and blob bytes it removed.</summary>
public sealed record EvictionStatus(DateTimeOffset Time, int Manifests, long Bytes);
/// <summary>
/// The last retention pass: when it ended, the tags and untagged manifests it removed, the bytes garbage collection freed
/// after it, and the removals the rules ask for that it left to the next passes (beyond <c>maxRemovalsPerPass</c>).
/// </summary>
public sealed record RetentionStatus(DateTimeOffset LastPassTime, int TagsRemoved, int ManifestsRemoved, long BytesFreed, int Pending = 0);

public sealed record StorageStatus(long UsedBytes = 0, long FreeBytes = 0, long Blobs = 0, long Repositories = 0);

public sealed record ChildStatus(string ActivationState, DateTimeOffset? LastSeen);
