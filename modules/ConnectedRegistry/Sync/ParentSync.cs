using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The sync pass the scheduler runs: connects to the parent named by the settings (rebuilding the client when
/// the endpoint or credentials change), claims the registry's identity at the parent (<see cref="IParentActivation"/>),
/// checks the parent answers, then syncs up (ReadWrite) and down. Content errors on single tags do not
/// stop the pass; they end it with <see cref="SyncIncompleteException"/> so that <c>lastError</c> says so.
/// </summary>
public sealed class ParentSync : ISyncWork, IDisposable
{
    private readonly SyncDown _down;
    private readonly SyncUp _up;
    private readonly SyncOutbox _outbox;
    private readonly SyncEnvironment _environment;
    private readonly IParentActivation? _activation;
    private readonly Storage.FreeSpaceGuard? _space;
    private readonly IEventPublisher? _events;
    private readonly TimeProvider _time;
    private string? _lastFailureEvent;
    private readonly ParentClientSlot _client;

    public ParentSync(SyncDown down, SyncUp up, SyncOutbox outbox, SyncOptions options, TimeProvider time, ILogger<ParentSync> logger, SyncEnvironment environment, IParentTrustSource? trust = null, IParentActivation? activation = null,
        LinkThrottle? throttle = null, Storage.FreeSpaceGuard? space = null, IEventPublisher? events = null)
    {
        _space = space;
        _events = events;
        _time = time;
        _activation = activation;
        _down = down;
        _up = up;
        _outbox = outbox;
        _environment = environment;
        _client = new ParentClientSlot(options.Client with { Throttle = throttle ?? options.Client.Throttle }, time, logger, environment, trust);
    }

    /// <summary>The result of the last completed pass (for diagnostics and tests).</summary>
    public SyncDownResult? LastResult { get; private set; }

    /// <summary>The result of the last sync-up part of a pass (ReadWrite only).</summary>
    public SyncUpResult? LastUpResult { get; private set; }

    public bool IsConfigured(RegistrySettings settings) => ParentCredentials.ResolveEndpoint(settings, _environment.Get) is not null;

    /// <summary>
    /// One pass, told as an event: <c>SyncCompleted</c> when it changed something, <c>SyncFailed</c> when it failed (once
    /// per distinct reason, so a parent that stays away is one event, not one a minute).
    /// </summary>
    public async Task RunAsync(RegistrySettings settings, CancellationToken cancellationToken)
    {
        try
        {
            await RunPassAsync(settings, cancellationToken);
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or StorageFullException) && _events is not null)
        {
            if (ex.Message != _lastFailureEvent)
            {
                _lastFailureEvent = ex.Message;
                _events.Publish(new RegistryEvent(EventTypes.SyncFailed, _time.GetUtcNow()) { Message = ex.Message });
            }

            throw;
        }

        _lastFailureEvent = null;
        var down = LastResult;
        var up = LastUpResult;
        if (_events is not null && (up is { Delivered: > 0 } || down is { BlobsFetched: > 0 } or { ManifestsStored: > 0 } or { TagsUpdated: > 0 } or { TagsRemoved: > 0 }))
        {
            _events.Publish(CompletedEvent());
        }
    }

    private RegistryEvent CompletedEvent() => new(EventTypes.SyncCompleted, _time.GetUtcNow())
    {
        Size = LastResult?.BytesDownloaded,
        Data = new Dictionary<string, object?>
        {
            ["repositories"] = LastResult?.Repositories.Count,
            ["blobsFetched"] = LastResult?.BlobsFetched,
            ["manifestsStored"] = LastResult?.ManifestsStored,
            ["tagsUpdated"] = LastResult?.TagsUpdated,
            ["tagsRemoved"] = LastResult?.TagsRemoved,
            ["pushesDelivered"] = LastUpResult?.Delivered,
            ["bytesUploaded"] = LastUpResult?.BytesUploaded,
        },
    };

    private async Task RunPassAsync(RegistrySettings settings, CancellationToken cancellationToken)
    {
        foreach (var dropped in _outbox.DropExpired(settings.Sync.MessageTtl)) // also while the parent is unreachable
        {
            _events?.Publish(new RegistryEvent(EventTypes.SyncPushExpired, _time.GetUtcNow())
            {
                Repository = dropped.Repository,
                Tag = dropped.Tag,
                Digest = dropped.Digest?.ToString(),
                Message = $"a local {dropped.Kind} was not delivered to the parent within sync.messageTtl and was dropped",
                Data = new Dictionary<string, object?> { ["created"] = dropped.Created.UtcDateTime, ["attempts"] = dropped.Attempts },
            });
        }

        var client = await ClientForAsync(settings, cancellationToken) ?? throw new InvalidOperationException("no parent is configured");
        await ReachParentAsync(settings, client, cancellationToken);
        var failures = new List<string>();
        if (settings.Mode == RegistryMode.ReadWrite)
        {
            // Up first: a tag pushed here reaches the parent before sync down compares tags.
            var up = await _up.RunAsync(client, cancellationToken);
            LastUpResult = up;
            if (up.Failed > 0)
            {
                failures.Add($"{up.Failed} local change(s) could not be pushed to the parent");
            }
        }

        if (_space is not null && await _space.CheckAsync(cancellationToken) is { Full: true } full)
        {
            throw StorageFullException.Paused(full);
        }

        var result = await _down.RunAsync(client, settings, cancellationToken);
        LastResult = result;
        failures.AddRange(result.Failures);
        if (failures.Count > 0)
        {
            throw new SyncIncompleteException($"{failures.Count} item(s) could not be synced; first: {failures[0]}");
        }
    }

    /// <summary>
    /// Claims this registry's identity at the parent (only the instance that holds it syncs) and checks the parent answers
    /// the sync token, both at once: one round trip or two each, which one after the other cost a satellite link 1.2 to
    /// 2.4 s at every pass start. The activation's refusal wins over the ping's failure, as when they ran in turn.
    /// </summary>
    private async Task ReachParentAsync(RegistrySettings settings, ParentRegistryClient client, CancellationToken cancellationToken)
    {
        if (_activation is null)
        {
            await client.PingAsync(cancellationToken);
            return;
        }

        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ping = client.PingAsync(abandon.Token);
        try
        {
            await _activation.EnsureActiveAsync(settings, client.Endpoint, ParentCredentials.Resolve(settings, _environment.Get), client.Options, cancellationToken);
        }
        catch
        {
            await abandon.CancelAsync();
            await Task.WhenAny(ping); // ends at once now; its outcome is the activation's to report
            _ = ping.Exception;
            throw;
        }

        await ping;
    }

    /// <summary>The client for the settings' parent (the same one while the endpoint and credentials stay the same).</summary>
    internal Task<ParentRegistryClient?> ClientForAsync(RegistrySettings settings, CancellationToken cancellationToken) =>
        _client.ClientForAsync(settings, cancellationToken);

    public void Dispose() => _client.Dispose();
}

/// <summary>A pass that reached the parent but could not copy everything (bad content, missing references).</summary>
public sealed class SyncIncompleteException(string message) : Exception(message);

/// <summary>Where the sync engine reads its secrets (the process environment; tests give their own).</summary>
public sealed class SyncEnvironment(Func<string, string?>? get = null)
{
    public Func<string, string?> Get { get; } = get ?? Environment.GetEnvironmentVariable;
}
