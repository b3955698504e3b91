using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Picks the mode at start-up (IoT Edge when a connection string or IOTEDGE_* variables are present,
/// standalone files otherwise; a missing or malformed variable stops the start with an error naming it),
/// then connects the module client to the desired-properties pipeline, the reporter and the direct
/// method dispatcher.
/// </summary>
public sealed partial class ModuleTwinService : IHostedService, IModuleClientHandler, IModuleMessageOutput, IAsyncDisposable
{
    private readonly IServiceProvider _services;
    private readonly RegistryOptions _registryOptions;
    private readonly ModuleIdentitySource _identitySource;
    private readonly TwinOptions _options;
    private readonly TimeProvider _time;
    private readonly DesiredPropertiesPipeline _pipeline;
    private readonly ReportedPropertiesReporter _reporter;
    private readonly DirectMethodDispatcher _methods;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly DateTimeOffset _startedAt;
    private readonly TaskCompletionSource _firstTwin = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly LastGoodDesired _lastGood;
    private readonly LastReportedState _lastReported;
    private readonly Func<ModuleIdentity?, IModuleClient>? _clientFactory;
    private Task _reporting = Task.CompletedTask;
    private IModuleClient? _client;
    private ModuleIdentity? _identity;

    /// <param name="clientFactory">Makes the module client for the identity (null: standalone); by default MQTT to
    /// edgeHub, or the twin files when standalone. Tests give their own.</param>
    public ModuleTwinService(
        IServiceProvider services,
        RegistryOptions registryOptions,
        ModuleIdentitySource identitySource,
        TwinOptions options,
        TimeProvider time,
        DesiredPropertiesPipeline pipeline,
        ReportedPropertiesReporter reporter,
        DirectMethodDispatcher methods,
        ILogger<ModuleTwinService> logger,
        Func<ModuleIdentity?, IModuleClient>? clientFactory = null)
    {
        _services = services;
        _registryOptions = registryOptions;
        _identitySource = identitySource;
        _options = options;
        _time = time;
        _pipeline = pipeline;
        _reporter = reporter;
        _methods = methods;
        _logger = logger;
        _clientFactory = clientFactory;
        _startedAt = time.GetUtcNow();
        _lastGood = new LastGoodDesired(Path.Combine(registryOptions.DataRoot, LastGoodDesired.RelativePath));
        _lastReported = new LastReportedState(Path.Combine(registryOptions.DataRoot, LastReportedState.RelativePath));
    }

    /// <summary>The running client (null before start).</summary>
    public IModuleClient? Client => _client;

    IModuleMessageSender? IModuleMessageOutput.Sender => _client;

    public ModuleIdentity? Identity => _identity;

    public DateTimeOffset StartedAt => _startedAt;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _identity = _identitySource.Identity;
        _client = CreateClient(_identity);

        // What the previous run last reported stays shown until this run knows better: the activation state until the
        // hierarchy publishes its own, the connection state until the first pass (or the feed) finds out, the desired
        // status until a document of this run is processed. Not Inactive, Offline and version 0 for the first seconds.
        var previous = _lastReported.TryLoad();
        if (previous is not null)
        {
            _services.GetRequiredService<ModuleState>().SeedFromPreviousRun(previous.ActivationState, previous.ConnectionState, previous.Since);
        }

        // Until the twin (or the desired file) gives settings, run with the ones it last gave: a device restarted while
        // offline keeps its tokens, and a desired file broken or removed while the module was down does not leave it
        // without settings. With none kept, nothing is applied and the registry answers 503 until a document applies.
        if (_lastGood.TryLoad(out var saved, out var savedVersion))
        {
            Log.LastGoodLoaded(_logger, savedVersion);
            _pipeline.ApplyFull(saved, savedVersion);
        }

        _reporter.StartFromPreviousRun(_lastReported, previous);
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
            await WaitForFirstTwinAsync(cancellationToken);
        }
    }

    /// <summary>The module's client: the twin over MQTT with an IoT Edge identity, else the desired and reported files (standalone).</summary>
    private IModuleClient CreateClient(ModuleIdentity? identity)
    {
        if (identity is null)
        {
            Log.Standalone(_logger, _registryOptions.DesiredFile, _registryOptions.ReportedFile);
            return _clientFactory?.Invoke(null) ?? new FileModuleClient(_registryOptions.DesiredFile, _registryOptions.ReportedFile, _options, _time, _services.GetRequiredService<ILogger<FileModuleClient>>(),
                _registryOptions.EventsFile);
        }

        Log.IotEdge(_logger, identity.DeviceId, identity.ModuleId, identity.ConnectHost, identity.Source);
        return _clientFactory?.Invoke(identity) ?? new MqttModuleClient(identity, _options, _time, _services.GetRequiredService<ILogger<MqttModuleClient>>());
    }

    /// <summary>Serve only once the twin's settings are in force (mode, tokens), or after the timeout without them.</summary>
    private async Task WaitForFirstTwinAsync(CancellationToken cancellationToken)
    {
        var waited = await Task.WhenAny(_firstTwin.Task, Task.Delay(TimeSpan.FromMilliseconds(_options.InitialTwinTimeoutMs), _time, cancellationToken));
        if (waited == _firstTwin.Task)
        {
            return;
        }

        if (_pipeline.NotApplied is { } why)
        {
            Log.NoTwinNoSettings(_logger, _options.InitialTwinTimeoutMs, why);
        }
        else
        {
            Log.NoTwinYet(_logger, _options.InitialTwinTimeoutMs);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        await _reporting.WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
        _reporter.Persist(); // a change within the last report interval is kept too
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
        if (status.Code != 200)
        {
            return;
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
        _pipeline.Reject(version, reason);
        _firstTwin.TrySetResult(); // a whole twin that cannot be read has arrived all the same: waiting longer does not help
        return Task.CompletedTask;
    }

    public Task<DirectMethodResult> OnMethodAsync(string name, string payload, CancellationToken cancellationToken) =>
        _methods.DispatchAsync(name, payload, cancellationToken);

    public void OnConnectionChanged(bool connected) => Log.TwinConnection(_logger, connected ? "connected" : "disconnected");

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

        [LoggerMessage(EventId = 356, Level = LogLevel.Warning, Message = "No twin within {TimeoutMs} ms of start and no settings applied ({Reason}): every request but /v2/ answers 503 until a desired document applies")]
        public static partial void NoTwinNoSettings(ILogger logger, int timeoutMs, string reason);

        [LoggerMessage(EventId = 355, Level = LogLevel.Warning, Message = "Last good desired properties not saved: {Reason}")]
        public static partial void LastGoodNotSaved(ILogger logger, string reason);
    }
}
