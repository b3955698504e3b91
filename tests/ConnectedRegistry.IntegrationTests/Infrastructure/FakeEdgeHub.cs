using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using MQTTnet.Server;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// edgeHub's MQTT face for one module, on MQTTnet's own server over TLS: checks the module's identity
/// and SAS token on connect, holds the twin, answers twin GET and reported PATCH with IoT Hub's topics
/// and statuses, pushes desired patches and invokes direct methods.
/// </summary>
public sealed class FakeEdgeHub : IAsyncDisposable
{
    private readonly X509Certificate2 _certificate;
    private readonly byte[] _moduleKey;
    private readonly Lock _gate = new();
    private readonly List<OutputMessage> _outputMessages = [];
    private readonly ConcurrentDictionary<string, TaskCompletionSource<(int Status, string Body)>> _methodCalls = new(StringComparer.Ordinal);
    private readonly List<ConnectAttempt> _connects = [];
    private readonly List<(DateTimeOffset At, JObject Patch)> _reportedPatches = [];
    private MqttServer? _server;
    private JObject _desired = new();
    private long _desiredVersion = 1;
    private JObject _reported = new();
    private long _reportedVersion = 1;
    private int _twinGets;
    private int _rejectReported;

    /// <param name="address">Where to listen: loopback by default; a device's own address for a module in a container.</param>
    /// <param name="port">The port: a free one by default; 8883 (MQTT over TLS) where the module must find edgeHub as on a device.</param>
    public FakeEdgeHub(X509Certificate2 certificate, string iotHubHostName, string deviceId, string moduleId, byte[] moduleKey, IPAddress? address = null, int? port = null)
    {
        _certificate = certificate;
        IotHubHostName = iotHubHostName;
        DeviceId = deviceId;
        ModuleId = moduleId;
        _moduleKey = moduleKey;
        Address = address ?? IPAddress.Loopback;
        Port = port ?? FreePort();
    }

    public IPAddress Address { get; }

    public int Port { get; }

    public string IotHubHostName { get; }

    public string DeviceId { get; }

    public string ModuleId { get; }

    public int TwinGets => Volatile.Read(ref _twinGets);

    public long DesiredVersion
    {
        get
        {
            lock (_gate)
            {
                return _desiredVersion;
            }
        }
    }

    public IReadOnlyList<ConnectAttempt> Connects
    {
        get
        {
            lock (_gate)
            {
                return [.. _connects];
            }
        }
    }

    public IReadOnlyList<ConnectAttempt> AcceptedConnects => [.. Connects.Where(c => c.Accepted)];

    public IReadOnlyList<(DateTimeOffset At, JObject Patch)> ReportedPatches
    {
        get
        {
            lock (_gate)
            {
                return [.. _reportedPatches];
            }
        }
    }

    public JObject Reported
    {
        get
        {
            lock (_gate)
            {
                return (JObject)_reported.DeepClone();
            }
        }
    }

    /// <summary>The next <paramref name="count"/> reported patches are answered 429 (throttled); the module must retry.</summary>
    /// <summary>Module output messages received (device-to-cloud), in arrival order.</summary>
    public IReadOnlyList<OutputMessage> OutputMessages
    {
        get
        {
            lock (_gate)
            {
                return [.. _outputMessages];
            }
        }
    }

    public void ThrottleNextReported(int count) => Volatile.Write(ref _rejectReported, count);

    public async Task StartAsync()
    {
        var factory = new MqttServerFactory();
        var options = factory.CreateServerOptionsBuilder()
            .WithoutDefaultEndpoint()
            .WithEncryptedEndpoint()
            .WithEncryptedEndpointBoundIPAddress(Address)
            .WithEncryptedEndpointPort(Port)
            .WithEncryptionCertificate(_certificate)
            .WithTlsEndpointReuseAddress()
            .WithPersistentSessions(true)
            .Build();
        var server = factory.CreateMqttServer(options);
        server.ValidatingConnectionAsync += ValidateAsync;
        server.InterceptingPublishAsync += OnPublishAsync;
        await server.StartAsync();
        _server = server;
    }

    public async Task StopAsync()
    {
        if (_server is { } server)
        {
            _server = null;
            await server.StopAsync(new MqttServerStopOptions());
            server.Dispose();
        }
    }

    /// <summary>Sets the whole desired document (before the module connects, or while it is away).</summary>
    public void SetDesired(JObject desired, long version)
    {
        lock (_gate)
        {
            _desired = (JObject)desired.DeepClone();
            _desiredVersion = version;
        }
    }

    /// <summary>Changes desired properties as the operator would; the module gets the patch.</summary>
    public Task<long> PushDesiredPatchAsync(JObject patch)
    {
        long version;
        lock (_gate)
        {
            _desired = JsonMergePatch.Apply(_desired, patch);
            version = ++_desiredVersion;
        }

        return SendDesiredPatchAsync(patch, version).ContinueWith(_ => version, TaskScheduler.Default);
    }

    /// <summary>Changes desired properties without telling the module (a patch lost while it was away).</summary>
    public long ChangeDesiredSilently(JObject patch)
    {
        lock (_gate)
        {
            _desired = JsonMergePatch.Apply(_desired, patch);
            return ++_desiredVersion;
        }
    }

    /// <summary>
    /// Sends a patch as raw text (one JSON cannot hold, such as a number beyond any decimal) as the next version; the
    /// twin kept here does not change.
    /// </summary>
    public async Task<long> PushRawDesiredPatchAsync(string json)
    {
        long version;
        lock (_gate)
        {
            version = ++_desiredVersion;
        }

        await InjectAsync(IotHubTopics.DesiredPatch(version), json);
        return version;
    }

    /// <summary>Rewrites the text of every whole-twin answer before it is sent (to put in what a JObject cannot hold).</summary>
    public Func<string, string>? RewriteTwin { get; set; }

    /// <summary>Sends a patch with any version, without changing the twin (a late duplicate, for example).</summary>
    public async Task SendDesiredPatchAsync(JObject patch, long version)
    {
        var body = (JObject)patch.DeepClone();
        body["$version"] = version;
        await InjectAsync(IotHubTopics.DesiredPatch(version), TwinJson.Serialize(body));
    }

    public async Task<(int Status, JToken Body)> InvokeMethodAsync(string name, string payload, TimeSpan? timeout = null)
    {
        var requestId = Guid.NewGuid().ToString("N");
        var waiter = new TaskCompletionSource<(int, string)>(TaskCreationOptions.RunContinuationsAsynchronously);
        _methodCalls[requestId] = waiter;
        try
        {
            await InjectAsync(IotHubTopics.MethodRequest(name, requestId), payload);
            var (status, body) = await waiter.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(10));
            return (status, TwinJson.Parse(body));
        }
        finally
        {
            _methodCalls.TryRemove(requestId, out _);
        }
    }

    private Task ValidateAsync(ValidatingConnectionEventArgs e)
    {
        var reason = Check(e);
        lock (_gate)
        {
            _connects.Add(new ConnectAttempt(DateTimeOffset.UtcNow, e.ClientId, e.UserName, e.Password, e.ProtocolVersion, e.CleanSession, e.KeepAlivePeriod, e.IsSecureConnection, reason));
        }

        if (reason is not null)
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
        }

        return Task.CompletedTask;
    }

    private string? Check(ValidatingConnectionEventArgs e)
    {
        if (e.ProtocolVersion != MqttProtocolVersion.V311)
        {
            return "not MQTT 3.1.1";
        }

        if (e.ClientId != $"{DeviceId}/{ModuleId}")
        {
            return "wrong client id";
        }

        if (e.UserName is null || !e.UserName.StartsWith($"{IotHubHostName}/{DeviceId}/{ModuleId}/?api-version=", StringComparison.Ordinal))
        {
            return "wrong user name";
        }

        // SharedAccessSignature sr={audience}&sig={sig}&se={expiry}
        var token = e.Password ?? string.Empty;
        const string prefix = "SharedAccessSignature ";
        if (!token.StartsWith(prefix, StringComparison.Ordinal))
        {
            return "not a SAS token";
        }

        var fields = token[prefix.Length..].Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : string.Empty, StringComparer.Ordinal);
        var audience = WebUtility.UrlEncode($"{IotHubHostName}/devices/{DeviceId}/modules/{ModuleId}");
        if (!fields.TryGetValue("sr", out var sr) || sr != audience || !fields.TryGetValue("se", out var se) || !fields.TryGetValue("sig", out var sig))
        {
            return "wrong audience";
        }

        var expected = Convert.ToBase64String(HMACSHA256.HashData(_moduleKey, Encoding.UTF8.GetBytes(sr + "\n" + se)));
        if (WebUtility.UrlDecode(sig) != expected)
        {
            return "bad signature";
        }

        return DateTimeOffset.FromUnixTimeSeconds(long.Parse(se, CultureInfo.InvariantCulture)) <= DateTimeOffset.UtcNow ? "expired token" : null;
    }

    private Task OnPublishAsync(InterceptingPublishEventArgs e)
    {
        var topic = e.ApplicationMessage.Topic;
        var payload = Encoding.UTF8.GetString(e.ApplicationMessage.Payload.ToArray());
        if (topic.StartsWith("$iothub/twin/GET/", StringComparison.Ordinal))
        {
            e.ProcessPublish = false;
            var rid = RequestId(topic);
            string body;
            lock (_gate)
            {
                var desired = (JObject)_desired.DeepClone();
                desired["$version"] = _desiredVersion;
                var reported = (JObject)_reported.DeepClone();
                reported["$version"] = _reportedVersion;
                body = TwinJson.Serialize(new JObject { ["desired"] = desired, ["reported"] = reported });
            }

            Interlocked.Increment(ref _twinGets);
            Respond(IotHubTopics.TwinResponse(200, rid), RewriteTwin?.Invoke(body) ?? body);
        }
        else if (IotHubTopics.TryParseOutputMessage(topic) is { } properties)
        {
            // A device-to-cloud message: edgeHub would route it; here it is kept for the test to read.
            e.ProcessPublish = false;
            lock (_gate)
            {
                _outputMessages.Add(new OutputMessage(topic, properties, payload));
            }
        }
        else if (topic.StartsWith("$iothub/twin/PATCH/properties/reported/", StringComparison.Ordinal))
        {
            e.ProcessPublish = false;
            var rid = RequestId(topic);
            if (Interlocked.Decrement(ref _rejectReported) >= 0)
            {
                Respond(IotHubTopics.TwinResponse(429, rid), string.Empty);
                return Task.CompletedTask;
            }

            long version;
            lock (_gate)
            {
                var patch = TwinJson.ParseObject(payload);
                _reported = JsonMergePatch.Apply(_reported, patch);
                version = ++_reportedVersion;
                _reportedPatches.Add((DateTimeOffset.UtcNow, patch));
            }

            Respond(IotHubTopics.TwinResponse(204, rid, version), string.Empty);
        }
        else if (topic.StartsWith("$iothub/methods/res/", StringComparison.Ordinal))
        {
            e.ProcessPublish = false;
            var status = int.Parse(topic.Split('/')[3], CultureInfo.InvariantCulture);
            if (_methodCalls.TryGetValue(RequestId(topic), out var waiter))
            {
                waiter.TrySetResult((status, payload));
            }
        }

        return Task.CompletedTask;
    }

    private void Respond(string topic, string body) => _ = Task.Run(() => InjectAsync(topic, body));

    private async Task InjectAsync(string topic, string body)
    {
        var server = _server ?? throw new InvalidOperationException("edgeHub is stopped");
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(Encoding.UTF8.GetBytes(body))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        await server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = "$edgeHub" }, CancellationToken.None);
    }

    private static string RequestId(string topic)
    {
        var index = topic.IndexOf("$rid=", StringComparison.Ordinal);
        var rest = topic[(index + 5)..];
        var end = rest.IndexOf('&', StringComparison.Ordinal);
        return end < 0 ? rest : rest[..end];
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>A message on a module output: its topic, the decoded topic properties (<c>$.on</c>, <c>type</c>, …) and its body.</summary>
    public sealed record OutputMessage(string Topic, IReadOnlyDictionary<string, string> Properties, string Body)
    {
        public JObject Json => TwinJson.ParseObject(Body);
    }

    public sealed record ConnectAttempt(DateTimeOffset At, string ClientId, string? UserName, string? Password, MqttProtocolVersion ProtocolVersion, bool? CleanSession, ushort? KeepAlive, bool Secure, string? RefusedBecause)
    {
        public bool Accepted => RefusedBecause is null;

        public DateTimeOffset TokenExpiry =>
            DateTimeOffset.FromUnixTimeSeconds(long.Parse(Password!.Split("&se=")[1], CultureInfo.InvariantCulture));
    }
}
