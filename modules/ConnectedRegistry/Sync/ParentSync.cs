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
    private readonly ParentClientSlot _client;

    public ParentSync(SyncDown down, SyncUp up, SyncOutbox outbox, SyncOptions options, TimeProvider time, ILogger<ParentSync> logger, SyncEnvironment environment, IParentTrustSource? trust = null, IParentActivation? activation = null)
    {
        _activation = activation;
        _down = down;
        _up = up;
        _outbox = outbox;
        _environment = environment;
        _client = new ParentClientSlot(options.Client, time, logger, environment, trust);
    }

    /// <summary>The result of the last completed pass (for diagnostics and tests).</summary>
    public SyncDownResult? LastResult { get; private set; }

    /// <summary>The result of the last sync-up part of a pass (ReadWrite only).</summary>
    public SyncUpResult? LastUpResult { get; private set; }

    public bool IsConfigured(RegistrySettings settings) => ParentCredentials.ResolveEndpoint(settings, _environment.Get) is not null;

    public async Task RunAsync(RegistrySettings settings, CancellationToken cancellationToken)
    {
        _outbox.DropExpired(settings.Sync.MessageTtl); // also while the parent is unreachable
        var client = await ClientForAsync(settings, cancellationToken) ?? throw new InvalidOperationException("no parent is configured");
        if (_activation is not null)
        {
            // Only the instance that holds this registry's identity at the parent syncs.
            await _activation.EnsureActiveAsync(settings, client.Endpoint, ParentCredentials.Resolve(settings, _environment.Get), client.Options, cancellationToken);
        }

        await client.PingAsync(cancellationToken);
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

        var result = await _down.RunAsync(client, settings, cancellationToken);
        LastResult = result;
        failures.AddRange(result.Failures);
        if (failures.Count > 0)
        {
            throw new SyncIncompleteException($"{failures.Count} item(s) could not be synced; first: {failures[0]}");
        }
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
