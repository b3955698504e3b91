using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// The module's link to its twin: today MQTT to edgeHub (<see cref="MqttModuleClient"/>) or local files
/// (<see cref="FileModuleClient"/>); the device SDK's ModuleClient could fill it in one file.
/// Delivers desired properties in version order to an <see cref="IModuleClientHandler"/>: a whole
/// twin on every (re)connect, then patches. Sends module messages (<see cref="IModuleMessageSender"/>) for the events queue.
/// </summary>
public interface IModuleClient : IModuleMessageSender, IAsyncDisposable
{
    /// <summary>"IoT Edge" or "standalone", for status output.</summary>
    string Kind { get; }

    bool IsConnected { get; }

    /// <summary>Starts connecting (and reconnecting forever); returns once started, not once connected.</summary>
    Task StartAsync(IModuleClientHandler handler, CancellationToken cancellationToken);

    /// <summary>Sends a reported-properties patch (null members delete) and returns once the twin confirmed it; retries until then.</summary>
    Task UpdateReportedAsync(JObject patch, CancellationToken cancellationToken);
}

/// <summary>What the module client calls back into. Calls for desired properties never overlap.</summary>
public interface IModuleClientHandler
{
    /// <summary>The whole twin: desired (with <c>$version</c>) and reported, after every (re)connect or a version gap.</summary>
    Task OnTwinAsync(JObject desired, JObject reported, CancellationToken cancellationToken);

    /// <summary>A desired patch with <c>$version</c> = the last + 1.</summary>
    Task OnDesiredPatchAsync(JObject patch, long version, CancellationToken cancellationToken);

    /// <summary>The desired document could not be read (for example the standalone file is not JSON).</summary>
    Task OnDesiredUnreadableAsync(long version, string reason, CancellationToken cancellationToken);

    /// <summary>A direct method call. <paramref name="payload"/> is the raw request body (JSON, possibly empty).</summary>
    Task<DirectMethodResult> OnMethodAsync(string name, string payload, CancellationToken cancellationToken);

    void OnConnectionChanged(bool connected);
}
