using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading.Channels;
using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using MQTTnet;
using MQTTnet.Adapter;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Newtonsoft.Json.Linq;
using Polly;
using Polly.Retry;

namespace ConnectedRegistry.Twin;

/// <summary>
/// The module client over MQTT 3.1.1 (MQTTnet), speaking IoT Hub's module protocol to edgeHub
/// (IOTEDGE.md §4): TLS on 8883 trusting the edge CA (secure WebSocket on 443 as fallback), a fresh SAS
/// token for every connect and a reconnect before the token expires, reconnect with backoff forever.
/// On every connect it subscribes, GETs the whole twin, and from then on applies desired patches only
/// in <c>$version</c> order: stale ones are dropped, a gap makes it GET the whole twin again.
/// </summary>
public sealed partial class MqttModuleClient : IModuleClient
{
    private readonly ModuleIdentity _identity;
    private readonly TwinOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SasTokenFactory _tokens;
    private readonly MqttClientFactory _factory = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<TwinResponse>> _pending = new(StringComparer.Ordinal);
    /// <summary>Desired patches in arrival order; a patch that cannot be read comes as null with why (it is reported as rejected).</summary>
    private readonly Channel<(JObject? Patch, long? Version, string? Unreadable)> _patches = Channel.CreateUnbounded<(JObject?, long?, string?)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _desiredGate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly ResiliencePipeline _reportRetry;
    private IMqttClient? _client;
    private TaskCompletionSource _online = NewSignal();
    private IModuleClientHandler? _handler;
    private Task _loop = Task.CompletedTask;
    private Task _worker = Task.CompletedTask;
    private long _requestId;
    private long _lastDesiredVersion = -1;
    private int _connections;
    private int _twinGets;

    public MqttModuleClient(ModuleIdentity identity, TwinOptions options, TimeProvider time, ILogger<MqttModuleClient> logger)
    {
        _identity = identity;
        _options = options;
        _time = time;
        _logger = logger;
        _tokens = new SasTokenFactory(identity.IotHubHostName, identity.DeviceId, identity.ModuleId, identity.Signer, time);
        _reportRetry = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => ex is not (TwinRequestRejectedException or OperationCanceledException) || ex is TimeoutException),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(Math.Max(10, options.ReconnectDelayMs)),
                MaxDelay = TimeSpan.FromMilliseconds(Math.Max(options.ReconnectDelayMs, Math.Min(options.ReconnectMaxDelayMs, 30_000))),
            })
            .Build();
    }

    public string Kind => "IoT Edge";

    public bool IsConnected => Volatile.Read(ref _client) is not null;

    /// <summary>Successful connections so far (first connect, reconnects, token renewals).</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Whole-twin GETs so far (one per connect plus one per version gap).</summary>
    public int TwinGets => Volatile.Read(ref _twinGets);

    public string ClientId => $"{_identity.DeviceId}/{_identity.ModuleId}";

    public string UserName =>
        $"{_identity.IotHubHostName}/{_identity.DeviceId}/{_identity.ModuleId}/?api-version=2020-09-30&DeviceClientType={Uri.EscapeDataString("EdgeConnectedRegistry/" + ReportedProperties.ModuleVersion)}";

    public Task StartAsync(IModuleClientHandler handler, CancellationToken cancellationToken)
    {
        _handler = handler;
        _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);
        _worker = Task.Run(() => ProcessPatchesAsync(_stop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task UpdateReportedAsync(JObject patch, CancellationToken cancellationToken)
    {
        var json = TwinJson.Serialize(patch);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        await _reportRetry.ExecuteAsync(async ct =>
        {
            var client = await WaitOnlineAsync(ct);
            var response = await RequestAsync(client, IotHubTopics.ReportedPatch, json, ct);
            if (response.Status is 200 or 204)
            {
                return;
            }

            if (response.Status == 429 || response.Status >= 500)
            {
                throw new InvalidOperationException($"Reported properties patch answered {response.Status}.");
            }

            throw new TwinRequestRejectedException(response.Status, response.Body);
        }, linked.Token);
    }

    public bool SendsMessages => true;

    public async Task SendMessageAsync(ModuleMessage message, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        var client = await WaitOnlineAsync(linked.Token);
        var publish = new MqttApplicationMessageBuilder()
            .WithTopic(IotHubTopics.OutputMessage(_identity.DeviceId, _identity.ModuleId, message))
            .WithPayload(message.Body)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();

        // QoS 1: returns once edgeHub acknowledged it (edgeHub stores it for its routes).
        var result = await client.PublishAsync(publish, linked.Token);
        if (!result.IsSuccess)
        {
            throw new IOException($"edgeHub did not accept the message on output {message.Output}: {result.ReasonCode}");
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var retry = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested)),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(Math.Max(10, _options.ReconnectDelayMs)),
                MaxDelay = TimeSpan.FromMilliseconds(Math.Max(_options.ReconnectDelayMs, _options.ReconnectMaxDelayMs)),
                OnRetry = args =>
                {
                    Log.ConnectFailed(_logger, _identity.ConnectHost, args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Exception?.Message ?? "unknown");
                    return default;
                },
            })
            .Build();

        while (!cancellationToken.IsCancellationRequested)
        {
            Session session;
            try
            {
                session = await retry.ExecuteAsync(ConnectOnceAsync, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }

            var renewIn = session.Token.RenewAt - _time.GetUtcNow();
            var renewal = Task.Delay(renewIn > TimeSpan.Zero ? renewIn : TimeSpan.Zero, _time, cancellationToken);
            var finished = await Task.WhenAny(session.Closed, renewal);
            if (cancellationToken.IsCancellationRequested)
            {
                break;
            }

            if (finished == renewal)
            {
                // MQTT cannot change credentials on a live connection: reconnect with a fresh token before this one expires.
                Log.RenewingToken(_logger, session.Token.ExpiresAt);
                await CloseAsync(session.Client);
            }
            else
            {
                Log.Disconnected(_logger, _identity.ConnectHost);
            }

            MarkOffline(session.Client);
            session.Client.Dispose();
        }
    }

    private async ValueTask<Session> ConnectOnceAsync(CancellationToken cancellationToken)
    {
        var token = await _tokens.CreateAsync(_options.SasTokenTtl, cancellationToken);
        var roots = await _identity.GetTrustedRootsAsync(cancellationToken);
        var (client, closed) = await ConnectTransportAsync(token, roots, cancellationToken);
        try
        {
            var subscribe = new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(IotHubTopics.TwinResponses, MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(IotHubTopics.DesiredPatches, MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(IotHubTopics.MethodRequests, MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            await client.SubscribeAsync(subscribe, cancellationToken);

            await _desiredGate.WaitAsync(cancellationToken);
            try
            {
                await RefreshTwinAsync(client, cancellationToken);
            }
            finally
            {
                _desiredGate.Release();
            }

            Volatile.Write(ref _client, client);
            Interlocked.Increment(ref _connections);
            _online.TrySetResult();
            Log.Connected(_logger, _identity.ConnectHost, ClientId, token.ExpiresAt);
            _handler!.OnConnectionChanged(true);
            return new Session(client, token, closed);
        }
        catch
        {
            await CloseAsync(client);
            client.Dispose();
            throw;
        }
    }

    /// <summary>MQTT over TLS first; MQTT over a secure WebSocket when that port cannot be reached. A fresh client per attempt.</summary>
    private async Task<(IMqttClient Client, Task Closed)> ConnectTransportAsync(SasToken token, X509Certificate2Collection? roots, CancellationToken cancellationToken)
    {
        try
        {
            return await ConnectClientAsync(BuildOptions(token, roots, webSocket: false), cancellationToken);
        }
        catch (MqttConnectingFailedException)
        {
            throw; // reached and refused (for example a bad token): another transport would be refused too
        }
        catch (Exception tcpError) when (_options.WebSocketPort > 0 && !cancellationToken.IsCancellationRequested)
        {
            Log.WebSocketFallback(_logger, _options.MqttPort, _options.WebSocketPort, tcpError.Message);
            try
            {
                return await ConnectClientAsync(BuildOptions(token, roots, webSocket: true), cancellationToken);
            }
            catch (Exception wsError) when (wsError is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                throw new IOException($"MQTT on port {_options.MqttPort} failed ({tcpError.Message}); MQTT over WebSocket on port {_options.WebSocketPort} failed ({wsError.Message}).", wsError);
            }
        }
    }

    private async Task<(IMqttClient Client, Task Closed)> ConnectClientAsync(MqttClientOptions options, CancellationToken cancellationToken)
    {
        var client = _factory.CreateMqttClient();
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ApplicationMessageReceivedAsync += e => OnMessageAsync(client, e);
        client.DisconnectedAsync += e =>
        {
            if (e.ClientWasConnected)
            {
                closed.TrySetResult();
                MarkOffline(client);
            }

            return Task.CompletedTask;
        };

        try
        {
            await client.ConnectAsync(options, cancellationToken);
            return (client, closed.Task);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Fresh options for every connect: the password is the token just made.</summary>
    internal MqttClientOptions BuildOptions(SasToken token, X509Certificate2Collection? roots, bool webSocket)
    {
        var host = _identity.ConnectHost;
        var builder = new MqttClientOptionsBuilder()
            .WithProtocolVersion(MqttProtocolVersion.V311)
            .WithClientId(ClientId)
            .WithCredentials(UserName, token.Value)
            .WithCleanSession(false)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(_options.KeepAliveSeconds))
            .WithTimeout(_options.RequestTimeout)
            .WithTlsOptions(tls =>
            {
                tls.UseTls(true).WithTargetHost(host).WithSslProtocols(SslProtocols.Tls12 | SslProtocols.Tls13);
                if (roots is not null)
                {
                    // The edge CA is the only root; validate the chain ourselves (the WebSocket channel ignores the trust chain option).
                    tls.WithTrustChain(roots).WithCertificateValidationHandler(args => CustomRootTrust.Validate(args.Certificate, args.Chain, args.SslPolicyErrors, roots));
                }
            });
        if (webSocket)
        {
            builder.WithWebSocketServer(ws => ws.WithUri($"wss://{host}:{_options.WebSocketPort.ToString(CultureInfo.InvariantCulture)}/$iothub/websocket").WithSubProtocols(["mqtt"]));
        }
        else
        {
            builder.WithTcpServer(host, _options.MqttPort);
        }

        return builder.Build();
    }

    private async Task RefreshTwinAsync(IMqttClient client, CancellationToken cancellationToken)
    {
        var response = await RequestAsync(client, IotHubTopics.TwinGet, string.Empty, cancellationToken);
        if (response.Status != 200)
        {
            throw new TwinRequestRejectedException(response.Status, response.Body);
        }

        JObject twin;
        string? unreadable = null;
        try
        {
            twin = TwinJson.ParseObject(response.Body);
        }
        catch (TwinJsonUnreadableException ex)
        {
            // A twin holding a number nobody can read, or a member named twice: its desired part is rejected (the last
            // good settings stay), and the connection stays up for the next patch, instead of failing every connect on
            // the same document.
            twin = ex.Document as JObject ?? [];
            var members = ex.Problems.Where(p => p.Path.StartsWith("desired.", StringComparison.Ordinal)).Select(p => $"{p.Path["desired.".Length..]}: {p.Reason}").ToList();
            // Only a member named twice in the reported part: the desired part reads as it is.
            unreadable = members.Count > 0 ? string.Join("; ", members) : ex.Problems.All(p => p.Reason == TwinJson.DuplicateReason) ? null : ex.Message;
        }

        var desired = twin["desired"] as JObject ?? new JObject();
        var reported = twin["reported"] as JObject ?? new JObject();
        var version = JsonMergePatch.Version(desired) ?? 0;
        Interlocked.Increment(ref _twinGets);
        Log.TwinReceived(_logger, version);
        _lastDesiredVersion = version;
        if (unreadable is not null)
        {
            await _handler!.OnDesiredUnreadableAsync(version, unreadable, cancellationToken);
            return;
        }

        await _handler!.OnTwinAsync(desired, reported, cancellationToken);
    }

    private async Task ProcessPatchesAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var (patch, version, unreadable) in _patches.Reader.ReadAllAsync(cancellationToken))
            {
                await _desiredGate.WaitAsync(cancellationToken);
                try
                {
                    if (version is { } v && v <= _lastDesiredVersion)
                    {
                        Log.StalePatch(_logger, v, _lastDesiredVersion);
                    }
                    else if (version is { } next && next == _lastDesiredVersion + 1)
                    {
                        _lastDesiredVersion = next;
                        if (patch is null)
                        {
                            await _handler!.OnDesiredUnreadableAsync(next, unreadable!, cancellationToken);
                        }
                        else
                        {
                            await _handler!.OnDesiredPatchAsync(patch, next, cancellationToken);
                        }
                    }
                    else if (_client is { } client)
                    {
                        Log.VersionGap(_logger, _lastDesiredVersion, version ?? -1);
                        await RefreshTwinAsync(client, cancellationToken);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // The next connect GETs the whole twin anyway.
                    Log.PatchFailed(_logger, ex.Message);
                }
                finally
                {
                    _desiredGate.Release();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private Task OnMessageAsync(IMqttClient client, MqttApplicationMessageReceivedEventArgs e)
    {
        var topic = e.ApplicationMessage.Topic;
        var payload = Encoding.UTF8.GetString(e.ApplicationMessage.Payload.ToArray());
        if (IotHubTopics.TryParseTwinResponse(topic, out var status, out var requestId, out var version))
        {
            if (_pending.TryRemove(requestId, out var waiter))
            {
                waiter.TrySetResult(new TwinResponse(status, version, payload));
            }
        }
        else if (IotHubTopics.TryParseDesiredPatch(topic, out var patchVersion))
        {
            try
            {
                var patch = TwinJson.ParseObject(payload);
                _patches.Writer.TryWrite((patch, patchVersion ?? JsonMergePatch.Version(patch), null));
            }
            catch (TwinJsonUnreadableException ex)
            {
                // In order with the others, and reported as rejected (the last good settings stay), not dropped.
                Log.PatchFailed(_logger, "desired patch not read: " + ex.Message);
                _patches.Writer.TryWrite((null, patchVersion ?? JsonMergePatch.Version(ex.Document as JObject ?? []), ex.Message));
            }
            catch (Newtonsoft.Json.JsonException ex)
            {
                Log.PatchFailed(_logger, "desired patch is not a JSON object: " + ex.Message);
                _patches.Writer.TryWrite((null, patchVersion, "the desired patch is not a JSON object: " + ex.Message));
            }
        }
        else if (IotHubTopics.TryParseMethodRequest(topic, out var name, out var methodRequestId))
        {
            _ = Task.Run(() => AnswerMethodAsync(client, name, methodRequestId, payload), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    private async Task AnswerMethodAsync(IMqttClient client, string name, string requestId, string payload)
    {
        DirectMethodResult result;
        try
        {
            result = await _handler!.OnMethodAsync(name, payload, _stop.Token);
        }
        catch (Exception ex) when (!_stop.IsCancellationRequested)
        {
            result = DirectMethodResult.Error(500, "MethodFailed", ex.Message);
        }
        catch (OperationCanceledException)
        {
            result = DirectMethodResult.Error(503, "ShuttingDown", "The module is stopping.");
        }

        try
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(IotHubTopics.MethodResponse(result.Status, requestId))
                .WithPayload(Encoding.UTF8.GetBytes(TwinJson.Serialize(result.Payload)))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            await client.PublishAsync(message, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.MethodReplyFailed(_logger, name, ex.Message);
        }
    }

    private async Task<TwinResponse> RequestAsync(IMqttClient client, Func<string, string> topic, string body, CancellationToken cancellationToken)
    {
        var requestId = Interlocked.Increment(ref _requestId).ToString(CultureInfo.InvariantCulture);
        var waiter = new TaskCompletionSource<TwinResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[requestId] = waiter;
        try
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(topic(requestId))
                .WithPayload(Encoding.UTF8.GetBytes(body))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            await client.PublishAsync(message, cancellationToken);
            return await waiter.Task.WaitAsync(_options.RequestTimeout, _time, cancellationToken);
        }
        finally
        {
            _pending.TryRemove(requestId, out _);
        }
    }

    private async Task<IMqttClient> WaitOnlineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var online = Volatile.Read(ref _online);
            if (Volatile.Read(ref _client) is { } client)
            {
                return client;
            }

            await online.Task.WaitAsync(cancellationToken);
        }
    }

    private void MarkOffline(IMqttClient client)
    {
        if (!ReferenceEquals(Interlocked.CompareExchange(ref _client, null, client), client))
        {
            return;
        }

        Interlocked.Exchange(ref _online, NewSignal());
        foreach (var (requestId, waiter) in _pending)
        {
            if (_pending.TryRemove(requestId, out _))
            {
                waiter.TrySetException(new IOException("The connection to edgeHub closed before the response arrived."));
            }
        }

        _handler?.OnConnectionChanged(false);
    }

    private static async Task CloseAsync(IMqttClient client)
    {
        try
        {
            if (client.IsConnected)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await client.DisconnectAsync(new MqttClientDisconnectOptions(), timeout.Token);
            }
        }
        catch (Exception)
        {
            // Closing a connection that is already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _patches.Writer.TryComplete();
        try
        {
            await Task.WhenAll(_loop, _worker);
        }
        catch (OperationCanceledException)
        {
        }

        if (_client is { } client)
        {
            await CloseAsync(client);
            MarkOffline(client);
            client.Dispose();
        }

        _stop.Dispose();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed record Session(IMqttClient Client, SasToken Token, Task Closed);

    private sealed record TwinResponse(int Status, long? Version, string Body);

    private static partial class Log
    {
        [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Connected to {Host} as {ClientId}; token valid until {ExpiresAt:o}")]
        public static partial void Connected(ILogger logger, string host, string clientId, DateTimeOffset expiresAt);

        [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Connecting to {Host} failed (attempt {Attempt}), retrying in {Delay}: {Reason}")]
        public static partial void ConnectFailed(ILogger logger, string host, int attempt, TimeSpan delay, string reason);

        [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Disconnected from {Host}; reconnecting")]
        public static partial void Disconnected(ILogger logger, string host);

        [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "SAS token expires at {ExpiresAt:o}: reconnecting with a fresh one")]
        public static partial void RenewingToken(ILogger logger, DateTimeOffset expiresAt);

        [LoggerMessage(EventId = 304, Level = LogLevel.Information, Message = "MQTT on port {Port} unreachable, trying MQTT over WebSocket on {WebSocketPort}: {Reason}")]
        public static partial void WebSocketFallback(ILogger logger, int port, int webSocketPort, string reason);

        [LoggerMessage(EventId = 305, Level = LogLevel.Information, Message = "Whole twin received, desired version {Version}")]
        public static partial void TwinReceived(ILogger logger, long version);

        [LoggerMessage(EventId = 306, Level = LogLevel.Debug, Message = "Desired patch version {Version} ignored: version {Last} already applied")]
        public static partial void StalePatch(ILogger logger, long version, long last);

        [LoggerMessage(EventId = 307, Level = LogLevel.Information, Message = "Desired patch version {Version} after {Last}: a gap, getting the whole twin")]
        public static partial void VersionGap(ILogger logger, long last, long version);

        [LoggerMessage(EventId = 308, Level = LogLevel.Warning, Message = "Desired patch not processed: {Reason}")]
        public static partial void PatchFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 309, Level = LogLevel.Warning, Message = "Reply to direct method {Name} not sent: {Reason}")]
        public static partial void MethodReplyFailed(ILogger logger, string name, string reason);
    }
}

/// <summary>The twin refused a request with a status that retrying will not change (for example 400).</summary>
public sealed class TwinRequestRejectedException(int status, string body) : Exception($"The twin request was refused with {status}: {(body.Length > 200 ? body[..200] : body)}")
{
    public int Status { get; } = status;
}
