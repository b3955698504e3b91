using ConnectedRegistry.Sync;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>Parent registry clients for tests: short retries and a quick breaker, so a failure is seen in seconds.</summary>
public static class ParentClients
{
    public static readonly ParentClientOptions FastOptions = new()
    {
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        MaxRetryDelay = TimeSpan.FromMilliseconds(200),
        MaxRetries = 2,
        BreakerDuration = TimeSpan.FromSeconds(30),
        BreakerMinimumThroughput = 3,
        ConnectTimeout = TimeSpan.FromSeconds(2),
    };

    public static ParentRegistryClient Client(Uri endpoint, ParentCredentials? credentials, ParentClientOptions? options = null) =>
        new(endpoint, credentials, options ?? FastOptions, TimeProvider.System, NullLogger.Instance);
}
