using ConnectedRegistry.Core;
using ConnectedRegistry.Events;
using ConnectedRegistry.Hosting;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Hosting;

/// <summary>
/// A bad value of every start-up option, as one table: given on the command line, the registry ends with one line on
/// standard error naming the option and its environment variable and exit code 2; given as the environment variable
/// (the configuration key it becomes), the build stops with the same <see cref="StartupException"/>. Every part reads
/// its options through <see cref="StartupConfiguration"/>; before, <c>--sync-parallel-blobs 0</c> was ignored,
/// <c>--Events:QueueCapacity 0</c> became 1, <c>--access-log sometimes</c> turned the log on, and the messages named one
/// of the two forms in four wordings.
/// </summary>
public sealed class OptionValuesTests
{
    /// <summary>A bad value of an option and what the option takes (the end of "must be …").</summary>
    public sealed record BadValue(string Option, string Variable, string Value, string Takes)
    {
        public override string ToString() => $"{Option} {Value}";
    }

    /// <summary>Options whose value is a path or a name, judged where it is used (and tested there), not read into a type.</summary>
    private static readonly Dictionary<string, string> AnyValue = new(StringComparer.Ordinal)
    {
        ["--urls"] = "ASP.NET's: an address it cannot listen on is a one-line start-up error (StartupErrorTests)",
        ["--data"] = "a folder: the data root check judges it before anything is built (StartupErrorTests)",
        ["--desired"] = "a file path",
        ["--reported"] = "a file path",
        ["--events"] = "a file path",
        ["--tls-cert"] = "a file: loading it judges it (HttpsWithCertificateFilesTests)",
        ["--tls-key"] = "a file: loading it judges it (HttpsWithCertificateFilesTests)",
        ["--tls-host-name"] = "the name asked of the workload API",
        ["--parent-ca-file"] = "a file: read when the parent client is made",
        ["--environment"] = "ASP.NET's environment name",
    };

    private const string WholeAtLeast0 = "a whole number of at least 0";

    public static TheoryData<BadValue> Table() => new(Rows);

    private static readonly BadValue[] Rows =
    [
        new("--metrics-urls", "REGISTRY_METRICS_URLS", "ftp://0.0.0.0:9600", "http:// addresses such as http://0.0.0.0:9600 (or empty to turn metrics off)"),
        new("--access-log", "REGISTRY_ACCESS_LOG", "sometimes", "true or false"),
        new("--log-format", "REGISTRY_LOG_FORMAT", "xml", "'plain' or 'json'"),
        new("--tls", "REGISTRY_TLS", "acme", "'workload' (certificate from the IoT Edge workload API) or 'auto' (for certificate files use --tls-cert (REGISTRY_TLS_CERT) and --tls-key (REGISTRY_TLS_KEY))"),
        new("--tls-validity", "REGISTRY_TLS_VALIDITY", "00:00:10", "a duration of at least PT1M, such as 30.00:00:00 or P30D"),
        new("--tls-renew-after", "REGISTRY_TLS_RENEW_AFTER", "1.5", "a fraction of the lifetime between 0 and 1"),
        new("--tls-retry-delay", "REGISTRY_TLS_RETRY_DELAY", "soon", "a duration such as 00:01:00 or PT1M"),
        new("--tls-reload-interval", "REGISTRY_TLS_RELOAD_INTERVAL", "often", "a duration such as 00:00:10 or PT10S"),
        new("--trusted-proxies", "REGISTRY_TRUSTED_PROXIES", "nonsense", "IP addresses or CIDR ranges such as 172.16.0.0/12, separated by commas ('nonsense' is neither)"),
        new("--upload-max-age", "REGISTRY_UPLOAD_MAX_AGE", "abc", "a duration such as 1.00:00:00 or P1D"),
        new("--upload-max-sessions", "REGISTRY_UPLOAD_MAX_SESSIONS", "0", "a whole number of at least 1"),
        new("--upload-max-sessions-per-repository", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_REPOSITORY", "many", "a whole number of at least 1"),
        new("--upload-max-sessions-per-client", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_CLIENT", "1.5", "a whole number of at least 1"),
        new("--upload-idle-near-cap", "REGISTRY_UPLOAD_IDLE_NEAR_CAP", "later", "a duration such as 00:10:00 or PT10M"),
        new("--pull-flush-interval", "REGISTRY_PULL_FLUSH_INTERVAL", "00:00:00", "a duration longer than zero, such as 00:00:10 or PT10S"),
        new("--record-pulls", "REGISTRY_RECORD_PULLS", "sometimes", "true or false"),
        new("--gc-grace", "REGISTRY_GC_GRACE", "an hour", "a duration such as 01:00:00 or PT1H"),
        new("--sync-parallel-blobs", "SYNC_PARALLEL_BLOBS", "0", "a whole number from 1 to 64"),
        new("--sync-parallel-blobs", "SYNC_PARALLEL_BLOBS", "65", "a whole number from 1 to 64"),
        Section("Twin", nameof(TwinOptions.ReportIntervalMs), "soon", WholeAtLeast0),
        Section("Twin", nameof(TwinOptions.ReportIntervalMs), "-1", WholeAtLeast0),
        Section("Twin", nameof(TwinOptions.SasTokenTtlSeconds), "0", "a whole number of at least 1"),
        Section("Twin", nameof(TwinOptions.MqttPort), "70000", "a whole number from 1 to 65535"),
        Section("Twin", nameof(TwinOptions.WebSocketPort), "-1", "a whole number from 0 to 65535"),
        Section("Twin", nameof(TwinOptions.KeepAliveSeconds), "65536", "a whole number from 0 to 65535"),
        Section("Twin", nameof(TwinOptions.RequestTimeoutMs), "0", "a whole number of at least 1"),
        Section("Twin", nameof(TwinOptions.ReconnectDelayMs), "-50", WholeAtLeast0),
        Section("Twin", nameof(TwinOptions.ReconnectMaxDelayMs), "-1", WholeAtLeast0),
        Section("Twin", nameof(TwinOptions.FilePollIntervalMs), "0", "a whole number of at least 1"),
        Section("Twin", nameof(TwinOptions.InitialTwinTimeoutMs), "-1", WholeAtLeast0),
        Section("Twin", nameof(TwinOptions.MaxReportedBytes), "100", "a whole number of bytes of at least 1024"),
        Section("Events", nameof(EventOptions.QueueCapacity), "many", "a whole number of at least 1"),
        Section("Events", nameof(EventOptions.QueueCapacity), "0", "a whole number of at least 1"),
        Section("Events", nameof(EventOptions.RetryDelayMs), "-1", WholeAtLeast0),
        Section("Hierarchy", "ChangeLogMaxEntries", "0", "a whole number of at least 1"),
        Section("Hierarchy", "MaxWaitSeconds", "-1", WholeAtLeast0),
        Section("Hierarchy", "FeedWaitSeconds", "1.5", WholeAtLeast0),
        Section("Hierarchy", "FeedWaitSeconds", "-1", WholeAtLeast0),
        Section("Hierarchy", "MaxFeedAnswerBytes", "10", "a whole number of bytes of at least 1024"),
    ];

    private static BadValue Section(string section, string key, string value, string takes) => new($"--{section}:{key}", $"{section}__{key}", value, takes);

    private static string Expected(BadValue bad) => $"{bad.Option} ({bad.Variable}) must be {bad.Takes}, got '{bad.Value}'.";

    [Theory]
    [MemberData(nameof(Table))]
    public async Task On_the_command_line_a_bad_value_ends_the_start_with_one_line_naming_the_option_and_its_variable_and_exit_code_2(BadValue bad)
    {
        var data = Directory.CreateTempSubdirectory("option-values-");
        try
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            var code = await RegistryHost.RunAsync([.. Quiet(data.FullName), bad.Option, bad.Value], output, error).WaitAsync(TimeSpan.FromSeconds(60));

            Assert.Equal([$"error: {Expected(bad)}"], error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            Assert.Equal(2, code);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void In_the_environment_a_bad_value_stops_the_build_with_the_same_error(BadValue bad)
    {
        var data = Directory.CreateTempSubdirectory("option-values-");
        try
        {
            // The configuration key the environment variable becomes (Twin__MqttPort: Twin:MqttPort), as the host reads it.
            var key = bad.Variable.Replace("__", ":", StringComparison.Ordinal);
            // No --metrics-urls here: the command line's value would count before the environment's.
            var error = Assert.ThrowsAny<StartupException>(() => RegistryHost.Build([.. Quiet(data.FullName, metricsOff: false), $"--{key}={bad.Value}"]));

            Assert.Equal(Expected(bad), error.Message);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    [Fact]
    public void Every_option_of_the_command_line_has_a_bad_value_in_the_table_or_takes_any_value()
    {
        var covered = Rows.Select(row => row.Option).ToHashSet(StringComparer.Ordinal);
        var missing = RegistryCommandLine.Options.Select(o => o.Name).Where(name => !covered.Contains(name) && !AnyValue.ContainsKey(name));

        Assert.Empty(missing);
        Assert.All(Rows.Where(bad => !bad.Option.Contains(':', StringComparison.Ordinal)),
            bad => Assert.Contains(RegistryCommandLine.Options, o => o.Name == bad.Option && o.Variable == bad.Variable));
    }

    [Fact]
    public void Every_key_of_the_twin_and_events_sections_has_a_bad_value_in_the_table()
    {
        var covered = Rows.Select(row => row.Option).ToHashSet(StringComparer.Ordinal);
        var keys = typeof(TwinOptions).GetProperties().Where(p => p.CanWrite).Select(p => $"--Twin:{p.Name}")
            .Concat(typeof(EventOptions).GetProperties().Where(p => p.CanWrite).Select(p => $"--Events:{p.Name}"));

        Assert.All(keys, key => Assert.Contains(key, covered));
    }

    /// <summary>The arguments every row starts from: its own data folder, no port held, no metrics port, its own twin files.</summary>
    private static string[] Quiet(string data, bool metricsOff = true) =>
    [
        "--data", data, "--urls", "http://127.0.0.1:0", .. metricsOff ? ["--metrics-urls", ""] : Array.Empty<string>(),
        "--desired", Path.Combine(data, "twin", "desired.json"), "--reported", Path.Combine(data, "twin", "reported.json"),
    ];
}
