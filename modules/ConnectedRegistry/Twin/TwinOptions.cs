using ConnectedRegistry.Core;

namespace ConnectedRegistry.Twin;

/// <summary>
/// Tunables of the module client and the reported-properties reporter. Bound from the <c>Twin</c>
/// configuration section (for example <c>--Twin:ReportIntervalMs 500</c>); the defaults are what a
/// device wants, tests shorten them.
/// </summary>
public sealed class TwinOptions
{
    /// <summary>At most one reported-properties patch per this interval; a burst of changes becomes one patch.</summary>
    public int ReportIntervalMs { get; set; } = 5000;

    /// <summary>Lifetime of each SAS token; renewed when 15% or less of it remains.</summary>
    public int SasTokenTtlSeconds { get; set; } = 3600;

    /// <summary>MQTT over TLS port of edgeHub (or IoT Hub).</summary>
    public int MqttPort { get; set; } = 8883;

    /// <summary>MQTT over secure WebSocket port, tried when the MQTT port cannot be reached; 0 turns the fallback off.</summary>
    public int WebSocketPort { get; set; } = 443;

    public int KeepAliveSeconds { get; set; } = 300;

    /// <summary>How long a twin request (GET, PATCH reported) waits for its response.</summary>
    public int RequestTimeoutMs { get; set; } = 30_000;

    /// <summary>First reconnect delay; doubles (with jitter) up to <see cref="ReconnectMaxDelayMs"/>.</summary>
    public int ReconnectDelayMs { get; set; } = 1000;

    public int ReconnectMaxDelayMs { get; set; } = 60_000;

    /// <summary>Standalone mode: how often the desired-properties file is checked for changes.</summary>
    public int FilePollIntervalMs { get; set; } = 1000;

    /// <summary>
    /// IoT Edge mode: how long start-up waits for the first whole twin before the registry serves with the
    /// last good settings it saved (or the defaults). 0 = do not wait.
    /// </summary>
    public int InitialTwinTimeoutMs { get; set; } = 10_000;

    /// <summary>Reported properties are trimmed to stay below this many bytes (the twin limit is 32 KB).</summary>
    public int MaxReportedBytes { get; set; } = 16 * 1024;

    /// <summary>The <c>Twin</c> section bound and each key checked (<see cref="StartupConfiguration"/>).</summary>
    /// <exception cref="StartupException">A value is not a whole number, or out of its range.</exception>
    public static TwinOptions FromConfiguration(IConfiguration configuration)
    {
        const string Section = "Twin";
        // Each key's text is judged by its rule first, so that a bad one is refused in the words of every option.
        StartupConfiguration.Require(configuration, Section, nameof(ReportIntervalMs), 0);
        StartupConfiguration.Require(configuration, Section, nameof(SasTokenTtlSeconds), 1);
        StartupConfiguration.Require(configuration, Section, nameof(MqttPort), 1, 65535);
        StartupConfiguration.Require(configuration, Section, nameof(WebSocketPort), 0, 65535);
        StartupConfiguration.Require(configuration, Section, nameof(KeepAliveSeconds), 0, ushort.MaxValue);
        StartupConfiguration.Require(configuration, Section, nameof(RequestTimeoutMs), 1);
        StartupConfiguration.Require(configuration, Section, nameof(ReconnectDelayMs), 0);
        StartupConfiguration.Require(configuration, Section, nameof(ReconnectMaxDelayMs), 0);
        StartupConfiguration.Require(configuration, Section, nameof(FilePollIntervalMs), 1);
        StartupConfiguration.Require(configuration, Section, nameof(InitialTwinTimeoutMs), 0);
        StartupConfiguration.Require(configuration, Section, nameof(MaxReportedBytes), SettingRules.Bytes(1024, int.MaxValue));
        return StartupConfiguration.Bind(configuration, Section, new TwinOptions());
    }

    internal TimeSpan ReportInterval => TimeSpan.FromMilliseconds(Math.Max(0, ReportIntervalMs));

    internal TimeSpan SasTokenTtl => TimeSpan.FromSeconds(Math.Max(1, SasTokenTtlSeconds));

    internal TimeSpan RequestTimeout => TimeSpan.FromMilliseconds(Math.Max(100, RequestTimeoutMs));
}
