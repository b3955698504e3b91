using System.Globalization;

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
    public const string CertOption = "--tls-cert (REGISTRY_TLS_CERT)";
    public const string KeyOption = "--tls-key (REGISTRY_TLS_KEY)";
    public const string ModeOption = "--tls (REGISTRY_TLS)";
    public const string HostNameOption = "--tls-host-name (REGISTRY_TLS_HOSTNAME)";
    public const string UrlsOption = "--urls (ASPNETCORE_URLS)";

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

    public static TlsOptions FromConfiguration(IConfiguration configuration)
    {
        static string? Pick(IConfiguration c, params string[] keys) =>
            keys.Select(k => c[k]).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v))?.Trim();

        static TimeSpan Duration(IConfiguration c, TimeSpan fallback, string option, params string[] keys)
        {
            var text = Pick(c, keys);
            if (text is null)
            {
                return fallback;
            }

            if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value >= TimeSpan.Zero)
            {
                return value;
            }

            try
            {
                var iso = System.Xml.XmlConvert.ToTimeSpan(text);
                if (iso >= TimeSpan.Zero)
                {
                    return iso;
                }
            }
            catch (FormatException)
            {
            }

            throw new TlsConfigurationException($"{option} must be a duration such as 30.00:00:00 or P30D, got '{text}'.");
        }

        var renewText = Pick(configuration, "tls-renew-after", "REGISTRY_TLS_RENEW_AFTER");
        var renewAfter = 0.8;
        if (renewText is not null && (!double.TryParse(renewText, NumberStyles.Float, CultureInfo.InvariantCulture, out renewAfter) || renewAfter is <= 0 or >= 1))
        {
            throw new TlsConfigurationException($"--tls-renew-after (REGISTRY_TLS_RENEW_AFTER) must be a fraction of the lifetime between 0 and 1, got '{renewText}'.");
        }

        var validity = Duration(configuration, TimeSpan.FromDays(30), "--tls-validity (REGISTRY_TLS_VALIDITY)", "tls-validity", "REGISTRY_TLS_VALIDITY");
        if (validity < TimeSpan.FromMinutes(1))
        {
            throw new TlsConfigurationException($"--tls-validity (REGISTRY_TLS_VALIDITY) must be at least one minute, got {validity}.");
        }

        var urls = (configuration["urls"] ?? string.Empty)
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            .ToList();

        return new TlsOptions
        {
            CertificateFile = Pick(configuration, "tls-cert", "REGISTRY_TLS_CERT") is { } cert ? Path.GetFullPath(cert) : null,
            KeyFile = Pick(configuration, "tls-key", "REGISTRY_TLS_KEY") is { } key ? Path.GetFullPath(key) : null,
            Mode = Pick(configuration, "tls", "REGISTRY_TLS"),
            HostName = Pick(configuration, "tls-host-name", "REGISTRY_TLS_HOSTNAME"),
            Validity = validity,
            RenewAfter = renewAfter,
            RetryDelay = Duration(configuration, TimeSpan.FromMinutes(1), "--tls-retry-delay (REGISTRY_TLS_RETRY_DELAY)", "tls-retry-delay", "REGISTRY_TLS_RETRY_DELAY"),
            ReloadInterval = Duration(configuration, TimeSpan.FromSeconds(10), "--tls-reload-interval (REGISTRY_TLS_RELOAD_INTERVAL)", "tls-reload-interval", "REGISTRY_TLS_RELOAD_INTERVAL"),
            HttpsUrls = urls,
        };
    }
}

/// <summary>A start-up error in the TLS settings or files. The message names the option and never holds key material.</summary>
public sealed class TlsConfigurationException(string message, Exception? inner = null) : Core.StartupException(message, inner);
