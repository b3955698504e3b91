using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Tls;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Picks the mode at start-up (IoT Edge when a connection string or IOTEDGE_* variables are present,
/// standalone files otherwise; a missing or malformed variable stops the start with an error naming it),
/// then connects the module client to the desired-properties pipeline, the reporter and the direct
/// method dispatcher.
/// </summary>
public sealed partial class ModuleTwinService : IHostedService, IModuleClientHandler, IAsyncDisposable
{
    private readonly IServiceProvider _services;
    private readonly RegistryOptions _registryOptions;
    private readonly ModuleEnvironment _environment;
    private readonly TwinOptions _options;
    private readonly TimeProvider _time;
    private readonly DesiredPropertiesPipeline _pipeline;
    private readonly ReportedPropertiesReporter _reporter;
    private readonly DirectMethodDispatcher _methods;
    private readonly ModuleState _state;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly DateTimeOffset _startedAt;
    private readonly TaskCompletionSource _firstTwin = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly LastGoodDesired _lastGood;
    private Task _reporting = Task.CompletedTask;
    private IModuleClient? _client;
    private ModuleIdentity? _identity;

    public ModuleTwinService(
        IServiceProvider services,
        RegistryOptions registryOptions,
        ModuleEnvironment environment,
        TwinOptions options,
        TimeProvider time,
        DesiredPropertiesPipeline pipeline,
        ReportedPropertiesReporter reporter,
        DirectMethodDispatcher methods,
        ModuleState state,
        ILogger<ModuleTwinService> logger)
    {
        _services = services;
        _registryOptions = registryOptions;
        _environment = environment;
        _options = options;
        _time = time;
        _pipeline = pipeline;
        _reporter = reporter;
        _methods = methods;
        _state = state;
        _logger = logger;
        _startedAt = time.GetUtcNow();
        _lastGood = new LastGoodDesired(Path.Combine(registryOptions.DataRoot, "twin", "last-good-desired.json"));
    }

    /// <summary>The running client (null before start).</summary>
    public IModuleClient? Client => _client;

    public ModuleIdentity? Identity => _identity;

    public DateTimeOffset StartedAt => _startedAt;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _identity = ModuleIdentityFactory.Create(_environment, _time);
        if (_identity is null)
        {
            Log.Standalone(_logger, _registryOptions.DesiredFile, _registryOptions.ReportedFile);
            _client = new FileModuleClient(_registryOptions.DesiredFile, _registryOptions.ReportedFile, _options, _time, _services.GetRequiredService<ILogger<FileModuleClient>>());
        }
        else
        {
            Log.IotEdge(_logger, _identity.DeviceId, _identity.ModuleId, _identity.ConnectHost, _identity.Source);
            _client = new MqttModuleClient(_identity, _options, _time, _services.GetRequiredService<ILogger<MqttModuleClient>>());

            // Until edgeHub answers, run with the settings the twin last gave (a device restarted while offline keeps its tokens).
            if (_lastGood.TryLoad(out var saved, out var savedVersion))
            {
                Log.LastGoodLoaded(_logger, savedVersion);
                _pipeline.ApplyFull(saved, savedVersion);
            }
        }

        _services.GetService<IHostApplicationLifetime>()?.ApplicationStarted.Register(ReportLoginServer);
        var client = _client;
        _reporting = Task.Run(async () =>
        {
            try
            {
                await _reporter.RunAsync(client, _stop.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
        }, CancellationToken.None);
        await _client.StartAsync(this, cancellationToken);
        if (_identity is not null && _options.InitialTwinTimeoutMs > 0)
        {
            // Serve only once the twin's settings are in force (mode, tokens), or after the timeout without them.
            var waited = await Task.WhenAny(_firstTwin.Task, Task.Delay(TimeSpan.FromMilliseconds(_options.InitialTwinTimeoutMs), _time, cancellationToken));
            if (waited != _firstTwin.Task)
            {
                Log.NoTwinYet(_logger, _options.InitialTwinTimeoutMs);
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        await _reporting.WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        if (_client is not null)
        {
            await _client.DisposeAsync();
            _client = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
            _client = null;
        }

        _stop.Dispose();
    }

    public Task OnTwinAsync(JObject desired, JObject reported, CancellationToken cancellationToken)
    {
        _reporter.Rebase(reported);
        var version = JsonMergePatch.Version(desired) ?? 0;
        Remember(_pipeline.ApplyFull(desired, version));
        _firstTwin.TrySetResult();
        return Task.CompletedTask;
    }

    public Task OnDesiredPatchAsync(JObject patch, long version, CancellationToken cancellationToken)
    {
        Remember(_pipeline.ApplyPatch(patch, version));
        return Task.CompletedTask;
    }

    private void Remember(DesiredStatus status)
    {
        if (status.Code != 200 || _identity is null)
        {
            return; // standalone mode has its file already
        }

        try
        {
            _lastGood.Save(_pipeline.Desired, status.Version);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.LastGoodNotSaved(_logger, ex.Message);
        }
    }

    public Task OnDesiredUnreadableAsync(long version, string reason, CancellationToken cancellationToken)
    {
        _pipeline.Reject(version, "rejected, the last good settings stay in force: " + reason);
        return Task.CompletedTask;
    }

    public Task<DirectMethodResult> OnMethodAsync(string name, string payload, CancellationToken cancellationToken) =>
        _methods.DispatchAsync(name, payload, cancellationToken);

    public void OnConnectionChanged(bool connected) => Log.TwinConnection(_logger, connected ? "connected" : "disconnected");

    private void ReportLoginServer()
    {
        var addresses = _services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses;
        // Clients are told the HTTPS address when there is one, under the name its certificate was issued for.
        var address = addresses?.FirstOrDefault(a => a.StartsWith("https://", StringComparison.OrdinalIgnoreCase)) ?? addresses?.FirstOrDefault();
        if (address is not null && LoginServer.FromAddress(address, _services.GetService<TlsCertificateProvider>()?.HostName) is { } loginServer)
        {
            _state.SetLoginServer(loginServer);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 350, Level = LogLevel.Information, Message = "Standalone mode: desired properties from {DesiredFile}, reported properties to {ReportedFile}")]
        public static partial void Standalone(ILogger logger, string desiredFile, string reportedFile);

        [LoggerMessage(EventId = 351, Level = LogLevel.Information, Message = "IoT Edge mode: module {DeviceId}/{ModuleId} via {Host} (identity from {Source})")]
        public static partial void IotEdge(ILogger logger, string deviceId, string moduleId, string host, string source);

        [LoggerMessage(EventId = 352, Level = LogLevel.Debug, Message = "Twin {State}")]
        public static partial void TwinConnection(ILogger logger, string state);

        [LoggerMessage(EventId = 353, Level = LogLevel.Information, Message = "Running with the last good desired properties (version {Version}) until the twin arrives")]
        public static partial void LastGoodLoaded(ILogger logger, long version);

        [LoggerMessage(EventId = 354, Level = LogLevel.Warning, Message = "No twin within {TimeoutMs} ms of start; serving with the current settings and applying the twin when it arrives")]
        public static partial void NoTwinYet(ILogger logger, int timeoutMs);

        [LoggerMessage(EventId = 355, Level = LogLevel.Warning, Message = "Last good desired properties not saved: {Reason}")]
        public static partial void LastGoodNotSaved(ILogger logger, string reason);
    }
}

/// <summary>The registry's own address as clients should use it, from the address Kestrel listens on.</summary>
public static class LoginServer
{
    /// <param name="address">An address Kestrel listens on.</param>
    /// <param name="wildcardHost">The name to report for a wildcard bind (the TLS certificate's name); null = the container's host name.</param>
    public static LoginServerStatus? FromAddress(string address, string? wildcardHost = null)
    {
        // Kestrel reports wildcard binds as http://[::]:8080, http://0.0.0.0:8080 or http://+:8080.
        var normalized = address.Replace("://+:", "://0.0.0.0:", StringComparison.Ordinal).Replace("://*:", "://0.0.0.0:", StringComparison.Ordinal);
        if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri))
        {
            return null;
        }

        var host = uri.Host;
        if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
        {
            // In IoT Edge the container's host name is the module name, which other modules resolve.
            host = wildcardHost ?? Environment.MachineName.ToLowerInvariant();
        }

        return new LoginServerStatus($"{host}:{uri.Port}", uri.Scheme == Uri.UriSchemeHttps ? "Enabled" : "Disabled");
    }
}
