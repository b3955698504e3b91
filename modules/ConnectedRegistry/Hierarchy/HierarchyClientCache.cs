using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Hierarchy;

/// <summary>
/// One <see cref="HierarchyClient"/> per owner, rebuilt only when the parent endpoint, the credentials or the TLS
/// options change, so that a pass every few seconds reuses its connection to the parent instead of opening a new
/// one (and a new TLS handshake) each time.
/// </summary>
internal sealed class HierarchyClientCache : IDisposable
{
    private readonly Lock _gate = new();
    private HierarchyClient? _client;
    private (Uri, string?, string?, ParentClientOptions)? _key;

    public HierarchyClient Get(Uri endpoint, ParentCredentials? credentials, ParentClientOptions options)
    {
        var key = (endpoint, credentials?.UserName, credentials?.Password, options);
        lock (_gate)
        {
            if (_client is null || _key != key)
            {
                _client?.Dispose();
                _client = new HierarchyClient(endpoint, credentials, options);
                _key = key;
            }

            return _client;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _client?.Dispose();
            _client = null;
            _key = null;
        }
    }
}
