using System.CommandLine;
using System.Text.RegularExpressions;
using ConnectedRegistry.Auth;
using ConnectedRegistry.Bundles;
using ConnectedRegistry.Core;
using ConnectedRegistry.Monitoring;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Hosting;

/// <summary>
/// The registry's command line: every start-up option with its environment variable (<see cref="Options"/>, the one
/// table <c>--help</c> prints), the commands (<c>token</c>, <c>health</c>, <c>bundle</c>, <c>call</c>, <c>retention</c>,
/// <c>sample-image</c>), and the configuration forms <c>--Section:Key VALUE</c> (<c>--Twin:MqttPort 1883</c>,
/// <c>--Logging:LogLevel:Default Debug</c>) let through to ASP.NET's configuration as they always were. Anything else
/// is an error, where ASP.NET's configuration took any <c>--word</c> and ignored it: <c>--dat /x</c> put the data in
/// ./data, and <c>--help</c> started a server.
/// </summary>
public static partial class RegistryCommandLine
{
    /// <summary>A start-up option: its name, the environment variable that does the same, what its value is and does.</summary>
    public sealed record ServerOption(string Name, string? Variable, string? HelpName, string Description);

    /// <summary>Every option the registry reads at start, as its parts read them from configuration.</summary>
    public static IReadOnlyList<ServerOption> Options { get; } =
    [
        new("--urls", "ASPNETCORE_URLS", "URLS", $"Where the registry listens, ';'-separated (an https:// address needs a certificate, see --tls). Default {RegistryOptions.DefaultUrl}."),
        new("--data", "REGISTRY_DATA", "DIR", "The data root: blobs, databases, keys, the last good desired properties, bundles, the control socket. Default ./data."),
        new("--desired", "REGISTRY_DESIRED", "FILE", "Standalone: the desired properties file (the twin's desired document). Default ./twin/desired.json."),
        new("--reported", "REGISTRY_REPORTED", "FILE", "Standalone: where the reported properties are written. Default ./twin/reported.json."),
        new("--events", "REGISTRY_EVENTS", "FILE", "Standalone: events as JSON lines into FILE. Default: off."),
        new("--metrics-urls", "REGISTRY_METRICS_URLS", "URLS", $"The metrics port (/metrics, /healthz, /readyz), http:// only; empty turns it off. Default {MonitoringOptions.DefaultMetricsUrl}."),
        new("--access-log", "REGISTRY_ACCESS_LOG", "true|false", "One log line per request (alone: true). Default false."),
        new("--log-format", "REGISTRY_LOG_FORMAT", "plain|json", "The log format. Default plain."),
        new("--tls", "REGISTRY_TLS", "auto|workload", "Where an https:// address's certificate comes from: auto (files when given, else in IoT Edge the workload API) or workload. Default auto."),
        new("--tls-cert", "REGISTRY_TLS_CERT", "FILE", "The server certificate (PEM, intermediates after it), reloaded when it changes."),
        new("--tls-key", "REGISTRY_TLS_KEY", "FILE", "The certificate's private key (PEM, unencrypted)."),
        new("--tls-host-name", "REGISTRY_TLS_HOSTNAME", "NAME", "Workload certificate: the name to ask for. Default IOTEDGE_GATEWAYHOSTNAME, else the module's name."),
        new("--tls-validity", "REGISTRY_TLS_VALIDITY", "DURATION", "Workload certificate: the lifetime asked for (30.00:00:00 or P30D). Default 30 days."),
        new("--tls-renew-after", "REGISTRY_TLS_RENEW_AFTER", "FRACTION", "Workload certificate: renewed after this share of its lifetime. Default 0.8."),
        new("--tls-retry-delay", "REGISTRY_TLS_RETRY_DELAY", "DURATION", "Workload certificate: a failed renewal is retried after this, doubling up to an hour. Default 00:01:00."),
        new("--tls-reload-interval", "REGISTRY_TLS_RELOAD_INTERVAL", "DURATION", "Certificate files: checked for a change at most this often. Default 00:00:10."),
        new("--trusted-proxies", "REGISTRY_TRUSTED_PROXIES", "ADDRESSES", "Proxies (addresses or CIDR ranges, ','-separated) whose X-Forwarded-For names the client for login rate limits."),
        new("--upload-max-age", "REGISTRY_UPLOAD_MAX_AGE", "TIMESPAN", "Idle upload sessions are purged after this. Default 1.00:00:00."),
        new("--upload-max-sessions", "REGISTRY_UPLOAD_MAX_SESSIONS", "N", "Open upload sessions in all; one more is 429. Default 1000."),
        new("--upload-max-sessions-per-repository", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_REPOSITORY", "N", "Open upload sessions in one repository; one more is 429. Default 100."),
        new("--upload-max-sessions-per-client", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_CLIENT", "N", "Open upload sessions of one client identity; one more is 429. Default 100."),
        new("--upload-idle-near-cap", "REGISTRY_UPLOAD_IDLE_NEAR_CAP", "TIMESPAN", "Near a session cap, sessions idle this long are purged. Default 00:10:00."),
        new("--pull-flush-interval", "REGISTRY_PULL_FLUSH_INTERVAL", "TIMESPAN", "Manifest pulls noted in memory are written this often (and at a graceful stop). Default 00:00:10."),
        new("--record-pulls", "REGISTRY_RECORD_PULLS", "true|false", "Record each manifest's last pull time; false only to measure its cost. Default true."),
        new("--gc-grace", "REGISTRY_GC_GRACE", "TIMESPAN", "Garbage collection spares anything younger. Default 01:00:00."),
        new("--sync-parallel-blobs", "SYNC_PARALLEL_BLOBS", "N", "Blobs sync downloads at the same time (1 to 64). Default 8, or 4 while a bandwidth cap is in force."),
        new("--parent-ca-file", "PARENT_CA_FILE", "FILE", "CA certificates (PEM) to trust for the parent registry, besides the system's and the edge trust bundle."),
        new("--environment", "ASPNETCORE_ENVIRONMENT", "NAME", "ASP.NET's environment name (appsettings.NAME.json). Default Production."),
    ];

    /// <summary>The commands, which take no configuration forms.</summary>
    public static IReadOnlyList<string> Commands { get; } = ["token", "health", "bundle", "call", "retention", "sample-image"];

    private const string Description = """
        EdgeConnectedRegistry: an OCI registry for an IoT Edge device that syncs a subset of repositories with its parent.
        Without a command it runs the registry: standalone (the twin is the files --desired and --reported), or as an
        IoT Edge module when the IOTEDGE_* variables are set. Each option can also be given by its environment variable.
        Tuning sections take the configuration form --Section:Key VALUE (environment Section__Key), for example
        --Twin:ReportIntervalMs 5000, --Events:QueueCapacity 1000, --Hierarchy:FeedWaitSeconds 30,
        --Logging:LogLevel:Default Debug.
        """;

    /// <summary>
    /// The command line of the module. <paramref name="serve"/> runs the registry with the options given, written
    /// out as <c>--name value</c> pairs followed by <paramref name="configurationForms"/>; the commands run themselves.
    /// </summary>
    public static Command Create(TextWriter output, Func<string[], WebApplication> openDataRoot, Func<string[], CancellationToken, Task<int>> serve, IReadOnlyList<string> configurationForms)
    {
        // Repeatable, the last one counting, as ASP.NET's configuration took them: a script may add an override after
        // its defaults. Each occurrence takes one value (--access-log none: on).
        var options = Options.Select(o => (Option: new Option<string[]>(o.Name)
        {
            Description = o.Variable is null ? o.Description : $"{o.Description} [{o.Variable}]",
            HelpName = o.HelpName,
            Arity = o.Name == "--access-log" ? ArgumentArity.ZeroOrMore : ArgumentArity.OneOrMore,
        }, Spec: o)).ToList();
        var root = CommandLineRunner.Root(Description,
            TokenCommand.Create(output),
            HealthCommand.Create(),
            BundleCommand.Create(output, openDataRoot, StoredDesiredSettings.Read),
            CallCommand.Create(),
            RetentionCommand.Create(output, openDataRoot),
            SampleImageCommand.Create(output));
        foreach (var (option, _) in options)
        {
            root.Options.Add(option);
        }

        root.SetAction((result, cancellationToken) =>
        {
            var args = new List<string>();
            foreach (var (option, spec) in options)
            {
                if (result.GetResult(option) is { } given)
                {
                    args.Add(spec.Name);
                    args.Add(given.Tokens.Count == 0 ? "true" : given.Tokens[^1].Value);
                }
            }

            return serve([.. args, .. configurationForms], cancellationToken);
        });
        return root;
    }

    /// <summary>
    /// Takes the configuration forms (<c>--Section:Key VALUE</c>, <c>--Section:Key=VALUE</c>) out of the registry's
    /// arguments, for ASP.NET's configuration; the rest is for the parser. A command's arguments are left whole.
    /// </summary>
    /// <returns>The forms (each as <c>--Section:Key=VALUE</c>), the rest, and an error for a form without a value.</returns>
    public static (List<string> Forms, List<string> Others, string? Error) SplitConfigurationForms(IReadOnlyList<string> args)
    {
        var forms = new List<string>();
        var rest = new List<string>();
        if (args.Count > 0 && Commands.Contains(args[0]))
        {
            return (forms, [.. args], null);
        }

        for (var i = 0; i < args.Count; i++)
        {
            if (ConfigurationForm().Match(args[i]) is not { Success: true } form)
            {
                rest.Add(args[i]);
            }
            else if (form.Groups["value"].Success)
            {
                forms.Add(args[i]);
            }
            else if (i + 1 < args.Count)
            {
                forms.Add($"--{form.Groups["key"].Value}={args[++i]}");
            }
            else
            {
                return (forms, rest, $"{args[i]} needs a value (--Section:Key VALUE)");
            }
        }

        return (forms, rest, null);
    }

    /// <summary><c>--Section:Key[:Key...]</c>, optionally with <c>=VALUE</c>: a key of ASP.NET's configuration, not an option of ours.</summary>
    [GeneratedRegex(@"^--(?<key>[A-Za-z][A-Za-z0-9_.-]*(?::[A-Za-z0-9_.*$-]+)+)(?:=(?<value>.*))?$", RegexOptions.Singleline)]
    private static partial Regex ConfigurationForm();
}
