using System.Globalization;
using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using Microsoft.Extensions.Logging.Abstractions;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// When the module cannot start in IoT Edge, the operator looks at the portal, not at the container's log: so before
/// it exits it puts the error in its reported properties (<c>startupError: {message, time}</c>, <c>connectionState:
/// Unhealthy</c>) over its own MQTT link to edgeHub. One connection and one patch within a short deadline, never
/// longer: edgeHub unreachable (or no IoT Edge environment, or the environment is the error) only means nothing is
/// reported. The message is a <see cref="StartupException"/>'s, which never holds a secret. The next start that
/// succeeds removes the member (the reporter sends the diff between the twin's reported document and the state, and
/// the state has no start-up error).
/// </summary>
public static class StartupErrorReport
{
    /// <summary>The reported member.</summary>
    public const string Member = "startupError";

    /// <summary>The longest the report may hold up the exit.</summary>
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(5);

    /// <summary>The patch that reports <paramref name="message"/> at <paramref name="at"/>.</summary>
    public static JObject Patch(string message, DateTimeOffset at) => new()
    {
        [Member] = new JObject
        {
            ["message"] = message.Length <= 1024 ? message : message[..1021] + "...",
            ["time"] = at.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        },
        ["connectionState"] = "Unhealthy",
    };

    /// <summary>
    /// Reports <paramref name="message"/> when <paramref name="environment"/> is an IoT Edge one and edgeHub confirms
    /// within <paramref name="deadline"/>; true when it did. Never throws.
    /// </summary>
    /// <param name="configuration">The module's configuration: the <c>Twin</c> section (edgeHub's ports, timeouts).</param>
    public static async Task<bool> TryReportAsync(string message, IConfiguration configuration, ModuleEnvironment environment, TimeProvider time, TimeSpan deadline)
    {
        if (!ModuleIdentityFactory.IsConfigured(environment))
        {
            return false;
        }

        try
        {
            var identity = ModuleIdentityFactory.Create(environment, time);
            if (identity is null)
            {
                return false;
            }

            using (identity.Workload)
            {
                var options = new TwinOptions();
                try
                {
                    StartupConfiguration.Bind(configuration, "Twin", options);
                }
                catch (StartupException)
                {
                    options = new TwinOptions(); // the Twin section may be the very error: defaults reach edgeHub too
                }

                var client = new MqttModuleClient(identity, options, time, NullLogger<MqttModuleClient>.Instance);
                using var limit = new CancellationTokenSource(deadline, time);
                var report = ReportAsync(client, Patch(message, time.GetUtcNow()), limit.Token);

                // The client's own shutdown may wait for a connection that never comes: the deadline holds whatever it does.
                return await report.WaitAsync(deadline + TimeSpan.FromSeconds(1), time).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            return false; // a report is best effort: the line on stderr and the exit code are the answer
        }
    }

    private static async Task<bool> ReportAsync(MqttModuleClient client, JObject patch, CancellationToken cancellationToken)
    {
        try
        {
            await client.StartAsync(IgnoringHandler.Instance, cancellationToken);
            await client.UpdateReportedAsync(patch, cancellationToken);
            return true;
        }
        catch (Exception)
        {
            return false;
        }
        finally
        {
            await client.DisposeAsync();
        }
    }

    /// <summary>The module is not running: desired properties and method calls that arrive meanwhile are not for this process.</summary>
    private sealed class IgnoringHandler : IModuleClientHandler
    {
        public static readonly IgnoringHandler Instance = new();

        public Task OnTwinAsync(JObject desired, JObject reported, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task OnDesiredPatchAsync(JObject patch, long version, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task OnDesiredUnreadableAsync(long version, string reason, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<DirectMethodResult> OnMethodAsync(string name, string payload, CancellationToken cancellationToken) =>
            Task.FromResult(DirectMethodResult.Error(503, "NotStarted", "The registry could not start; see its reported startupError."));

        public void OnConnectionChanged(bool connected)
        {
        }
    }
}
