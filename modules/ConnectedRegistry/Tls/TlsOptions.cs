using System.Globalization;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Tls;

/// <summary>Where the HTTPS server certificate comes from.</summary>
public enum TlsSource
{
    /// <summary>No https:// address: plain HTTP only.</summary>
    None,

    /// <summary>PEM files given with <c>--tls-cert</c> and <c>--tls-key</c>, reloaded when they change.</summary>
    Files,

    /// <summary>Issued by the IoT Edge workload API from the edge CA, renewed before it expires.</summary>
    Workload,
}

/// <summary>
/// Start-up settings for serving HTTPS. HTTPS is served on every <c>https://</c> address of <c>--urls</c>
/// (<c>ASPNETCORE_URLS</c>); its certificate comes from <c>--tls-cert</c>/<c>--tls-key</c> when given,
/// otherwise, in IoT Edge mode, from the workload API. <c>--tls workload</c> (<c>REGISTRY_TLS=workload</c>)
/// asks for the workload API explicitly and fails at start outside IoT Edge.
/// </summary>
public sealed class TlsOptions
{
    public static readonly StartupOption CertOption = new("tls-cert", "REGISTRY_TLS_CERT");
    public static readonly StartupOption KeyOption = new("tls-key", "REGISTRY_TLS_KEY");
    public static readonly StartupOption ModeOption = new("tls", "REGISTRY_TLS");
    public static readonly StartupOption HostNameOption = new("tls-host-name", "REGISTRY_TLS_HOSTNAME");
    public static readonly StartupOption ValidityOption = new("tls-validity", "REGISTRY_TLS_VALIDITY");
    public static readonly StartupOption RenewAfterOption = new("tls-renew-after", "REGISTRY_TLS_RENEW_AFTER");
    public static readonly StartupOption RetryDelayOption = new("tls-retry-delay", "REGISTRY_TLS_RETRY_DELAY");
    public static readonly StartupOption ReloadIntervalOption = new("tls-reload-interval", "REGISTRY_TLS_RELOAD_INTERVAL");
    public static readonly StartupOption UrlsOption = new("urls", "ASPNETCORE_URLS");

    /// <summary>PEM certificate file: the server certificate first, then any intermediates.</summary>
    public string? CertificateFile { get; init; }

    /// <summary>PEM private key file (PKCS#8, RSA or EC; not encrypted).</summary>
    public string? KeyFile { get; init; }

    /// <summary>The raw <c>--tls</c> value: null (automatic) or <c>workload</c>.</summary>
    public string? Mode { get; init; }

    /// <summary>Common name asked of the workload API; null = IOTEDGE_GATEWAYHOSTNAME, else the module id.</summary>
    public string? HostName { get; init; }

    /// <summary>Lifetime asked of the workload API for each certificate (the edge CA may shorten it).</summary>
    public TimeSpan Validity { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Share of a workload certificate's lifetime after which it is renewed.</summary>
    public double RenewAfter { get; init; } = 0.8;

    /// <summary>First wait after a failed renewal; doubles up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMinutes(1);

    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often, at most, the certificate files are checked for a change (on a TLS handshake).</summary>
    public TimeSpan ReloadInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The <c>https://</c> addresses of <c>--urls</c>.</summary>
    public IReadOnlyList<string> HttpsUrls { get; init; } = [];

    /// <exception cref="StartupException">A value is not one its option takes (<see cref="StartupConfiguration"/>).</exception>
    public static TlsOptions FromConfiguration(IConfiguration configuration)
    {
        var defaults = new TlsOptions();
        var urls = (configuration["urls"] ?? string.Empty)
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            .ToList();

        return new TlsOptions
        {
            CertificateFile = StartupConfiguration.Text(configuration, CertOption) is { } cert ? Path.GetFullPath(cert) : null,
            KeyFile = StartupConfiguration.Text(configuration, KeyOption) is { } key ? Path.GetFullPath(key) : null,
            Mode = StartupConfiguration.Read(configuration, ModeOption, null, (string text, out string? mode) =>
            {
                mode = text;
                return string.Equals(text, "workload", StringComparison.OrdinalIgnoreCase) || string.Equals(text, "auto", StringComparison.OrdinalIgnoreCase);
            }, $"'workload' (certificate from the IoT Edge workload API) or 'auto' (for certificate files use {CertOption} and {KeyOption})"),
            HostName = StartupConfiguration.Text(configuration, HostNameOption),
            Validity = StartupConfiguration.Duration(configuration, ValidityOption, defaults.Validity, minimum: TimeSpan.FromMinutes(1)),
            RenewAfter = StartupConfiguration.Read(configuration, RenewAfterOption, defaults.RenewAfter,
                (string text, out double fraction) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out fraction) && fraction is > 0 and < 1,
                "a fraction of the lifetime between 0 and 1"),
            RetryDelay = StartupConfiguration.Duration(configuration, RetryDelayOption, defaults.RetryDelay),
            ReloadInterval = StartupConfiguration.Duration(configuration, ReloadIntervalOption, defaults.ReloadInterval),
            HttpsUrls = urls,
        };
    }
}

/// <summary>A start-up error in the TLS settings or files. The message names the option and never holds key material.</summary>
public sealed class TlsConfigurationException(string message, Exception? inner = null) : Core.StartupException(message, inner);
