using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The sync token this registry presents to its parent. The user name comes from the twin
/// (<c>parent.syncTokenName</c>, else the registry's own name); the password only ever comes from the
/// environment: <c>PARENT_SYNC_TOKEN_PASSWORD</c>, or the Azure-style
/// <c>ACR_REGISTRY_CONNECTION_STRING=ConnectedRegistryName=…;SyncTokenName=…;SyncTokenPassword=…;ParentGatewayEndpoint=…;ParentEndpointProtocol=https</c>.
/// <see cref="ToString"/> never shows the password.
/// </summary>
public sealed class ParentCredentials
{
    public const string PasswordVariable = "PARENT_SYNC_TOKEN_PASSWORD";
    public const string ConnectionStringVariable = "ACR_REGISTRY_CONNECTION_STRING";

    public ParentCredentials(string userName, string password)
    {
        ArgumentException.ThrowIfNullOrEmpty(userName);
        ArgumentNullException.ThrowIfNull(password);
        UserName = userName;
        Password = password;
    }

    public string UserName { get; }

    public string Password { get; }

    public string BasicParameter => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(UserName + ":" + Password));

    public override string ToString() => $"{UserName}:***";

    /// <summary>
    /// The credentials for <paramref name="settings"/>, or null when no password is configured (then the
    /// parent is used anonymously).
    /// </summary>
    public static ParentCredentials? Resolve(RegistrySettings settings, Func<string, string?> environment)
    {
        var connection = ConnectionString.Parse(environment(ConnectionStringVariable));
        var password = environment(PasswordVariable);
        if (string.IsNullOrEmpty(password))
        {
            password = connection.GetValueOrDefault("SyncTokenPassword");
        }

        var user = settings.Parent?.SyncTokenName;
        if (string.IsNullOrWhiteSpace(user))
        {
            user = connection.GetValueOrDefault("SyncTokenName");
        }

        if (string.IsNullOrWhiteSpace(user))
        {
            user = settings.Name ?? connection.GetValueOrDefault("ConnectedRegistryName");
        }

        return string.IsNullOrEmpty(password) || string.IsNullOrWhiteSpace(user) ? null : new ParentCredentials(user, password);
    }

    /// <summary>
    /// The parent endpoint: the twin's <c>parent.endpoint</c>, else the connection string's
    /// <c>ParentEndpointProtocol://ParentGatewayEndpoint</c> (https when no protocol is given); null when neither is set.
    /// </summary>
    public static Uri? ResolveEndpoint(RegistrySettings settings, Func<string, string?> environment)
    {
        if (settings.Parent is not null)
        {
            return settings.Parent.Endpoint;
        }

        var connection = ConnectionString.Parse(environment(ConnectionStringVariable));
        var gateway = connection.GetValueOrDefault("ParentGatewayEndpoint");
        if (string.IsNullOrWhiteSpace(gateway))
        {
            return null;
        }

        var protocol = connection.GetValueOrDefault("ParentEndpointProtocol");
        protocol = string.Equals(protocol, "http", StringComparison.OrdinalIgnoreCase) ? "http" : "https";
        return Uri.TryCreate($"{protocol}://{gateway.Trim()}", UriKind.Absolute, out var uri) ? uri : null;
    }

    /// <summary><c>key=value</c> pairs separated by <c>;</c>, each split on its first <c>=</c>; keys are case-insensitive.</summary>
    internal static class ConnectionString
    {
        public static Dictionary<string, string> Parse(string? value)
        {
            var pairs = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            if (string.IsNullOrWhiteSpace(value))
            {
                return pairs;
            }

            foreach (var part in value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = part.IndexOf('=');
                if (eq > 0)
                {
                    pairs[part[..eq].Trim()] = part[(eq + 1)..].Trim();
                }
            }

            return pairs;
        }
    }
}
