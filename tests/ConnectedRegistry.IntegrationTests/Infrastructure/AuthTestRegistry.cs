using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// The real registry (real Kestrel, real data root, real Distribution endpoints, real auth middleware
/// and token endpoint) with settings applied through the real <see cref="RegistrySettingsStore"/>.
/// Content can be pushed over HTTP while the registry is still open, before the settings are applied.
/// </summary>
internal sealed class AuthTestRegistry : IAsyncDisposable
{
    private AuthTestRegistry(RegistryInstance instance, LogCapture logs)
    {
        Instance = instance;
        Logs = logs;
    }

    public RegistryInstance Instance { get; }

    public LogCapture Logs { get; }

    public HttpClient Client => Instance.Client;

    public string TokenUrl => new Uri(Instance.BaseAddress, "/oauth2/token").ToString();

    public static async Task<AuthTestRegistry> StartAsync(RegistrySettings settings, AuthOptions? options = null, string? dataRoot = null, TimeProvider? time = null, Func<HttpClient, Task>? seed = null)
    {
        var logs = new LogCapture();
        var instance = await RegistryInstance.StartAsync(dataRoot, configure: builder =>
        {
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            // The framework's request lines too (they start at Warning): tests check which paths clients took.
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Debug);
            builder.Logging.AddProvider(logs);
            if (options is not null)
            {
                builder.Services.AddSingleton(options);
            }

            if (time is not null)
            {
                builder.Services.AddSingleton(time);
            }
        });
        if (seed is not null)
        {
            await seed(instance.Client);
        }

        instance.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(settings);
        return new AuthTestRegistry(instance, logs);
    }

    public void Apply(RegistrySettings settings) => Instance.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(settings);

    public static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, AuthenticationHeaderValue? auth = null, TestBlob? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = auth;
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body.Bytes);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(body.MediaType);
        }
        else if (method == HttpMethod.Put || method == HttpMethod.Patch || method == HttpMethod.Post)
        {
            request.Content = new ByteArrayContent([]);
        }

        return await Client.SendAsync(request);
    }

    /// <summary>GET /oauth2/token with Basic credentials (or none) and the given scopes.</summary>
    public async Task<HttpResponseMessage> GetTokenAsync(string? user, string? password, params string[] scopes)
    {
        var query = "service=" + Uri.EscapeDataString(Instance.HostPort) + string.Concat(scopes.Select(s => "&scope=" + Uri.EscapeDataString(s)));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/oauth2/token?" + query);
        if (user is not null)
        {
            request.Headers.Authorization = Basic(user, password ?? "");
        }

        return await Client.SendAsync(request);
    }

    public async Task<string> AccessTokenAsync(string user, string password, params string[] scopes)
    {
        using var response = await GetTokenAsync(user, password, scopes);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["token"]!;
    }

    public static async Task<string> ErrorCodeAsync(HttpResponseMessage response) =>
        (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["errors"]![0]!["code"]!;

    public async ValueTask DisposeAsync()
    {
        await Instance.DisposeAsync();
        Instance.DeleteData();
    }
}

/// <summary>Keeps every log line written, to check that no secret is ever logged.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            owner._lines.Enqueue($"{category} {logLevel} {formatter(state, exception)} {exception}");
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                owner._lines.Enqueue(string.Join(" ", values.Select(v => $"{v.Key}={v.Value}")));
            }
        }
    }
}

/// <summary>Settings builders for the tests: tokens are made by the real token command's hasher.</summary>
internal static class AuthSettings
{
    public static ClientTokenSettings Token(string password, Dictionary<string, IReadOnlyList<string>> scopeMap, bool enabled = true, DateTimeOffset? expiry = null) =>
        new() { PasswordHash = PasswordHasher.Hash(password), ScopeMap = scopeMap, Enabled = enabled, Expiry = expiry };

    public static RegistrySettings With(
        Dictionary<string, ClientTokenSettings>? tokens = null,
        Dictionary<string, ChildRegistrySettings>? children = null,
        RegistryMode mode = RegistryMode.ReadWrite,
        bool anonymousPull = false) => new()
        {
            Name = "edge-registry",
            Mode = mode,
            AnonymousPull = anonymousPull,
            ClientTokens = tokens ?? new Dictionary<string, ClientTokenSettings>(StringComparer.Ordinal),
            Children = children ?? new Dictionary<string, ChildRegistrySettings>(StringComparer.Ordinal),
        };
}
