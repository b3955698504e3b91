using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// One client for the parent the settings name: the same instance (and its token cache and circuit) while the
/// endpoint, credentials and trusted realm hosts stay the same, a new one when they change. The extra trusted roots are read when a
/// client is made. Sync's pass and on-demand fetch each hold one, with their own connect timeout and retries.
/// </summary>
public sealed partial class ParentClientSlot : IDisposable
{
    private readonly ParentClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SyncEnvironment _environment;
    private readonly IParentTrustSource? _trust;
    private readonly Lock _gate = new();
    private (Uri Endpoint, string? User, string? Password, string RealmHosts)? _clientKey;
    private ParentRegistryClient? _client;

    public ParentClientSlot(ParentClientOptions options, TimeProvider time, ILogger logger, SyncEnvironment environment, IParentTrustSource? trust)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _environment = environment;
        _trust = trust;
    }

    public async Task<ParentRegistryClient?> ClientForAsync(RegistrySettings settings, CancellationToken cancellationToken)
    {
        var endpoint = ParentCredentials.ResolveEndpoint(settings, _environment.Get);
        if (endpoint is null)
        {
            return null;
        }

        var credentials = ParentCredentials.Resolve(settings, _environment.Get);
        var realmHosts = settings.Parent?.TrustedRealmHosts ?? [];
        var key = (endpoint, credentials?.UserName, credentials?.Password, string.Join(' ', realmHosts));
        lock (_gate)
        {
            if (_client is not null && _clientKey == key)
            {
                _client.BodyIdleTimeout = settings.Sync.ParentIdleTimeout; // the twin's value may have changed
                return _client;
            }
        }

        var roots = endpoint.Scheme == Uri.UriSchemeHttps && _trust is not null ? await _trust.GetRootsAsync(cancellationToken) : null;
        var client = new ParentRegistryClient(endpoint, credentials, _options with { ExtraTrust = roots, BodyIdleTimeout = settings.Sync.ParentIdleTimeout, TrustedRealmHosts = realmHosts }, _time, _logger);
        lock (_gate)
        {
            if (_client is not null && _clientKey == key)
            {
                // Another caller made one for the same parent meanwhile (a client pushing layers in parallel asks
                // several at once): use that one. Replacing it would dispose a client its caller is still using.
                client.Dispose();
                return _client;
            }

            _client?.Dispose();
            _client = client;
            _clientKey = key;
        }

        Log.ParentConfigured(_logger, endpoint.GetLeftPart(UriPartial.Authority), credentials?.UserName ?? "(anonymous)", roots?.Count ?? 0);
        return client;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _client?.Dispose();
            _client = null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4050, Level = LogLevel.Information, Message = "Parent registry {Parent} as {User} ({ExtraRoots} extra trusted roots)")]
        public static partial void ParentConfigured(ILogger logger, string parent, string user, int extraRoots);
    }
}
