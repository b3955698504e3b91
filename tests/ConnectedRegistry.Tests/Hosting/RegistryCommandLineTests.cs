using ConnectedRegistry.Hosting;

namespace ConnectedRegistry.Tests.Hosting;

/// <summary>
/// The registry's command line as a table: every option the parts read keeps its name and environment variable,
/// the configuration forms pass through to ASP.NET, and anything else is refused before anything starts.
/// </summary>
public sealed class RegistryCommandLineTests
{
    /// <summary>Every option in use before the parser (README, docs, deployment templates, tests, scripts), with its variable.</summary>
    public static TheoryData<string, string> KnownOptions => new()
    {
        { "--urls", "ASPNETCORE_URLS" }, { "--data", "REGISTRY_DATA" }, { "--desired", "REGISTRY_DESIRED" }, { "--reported", "REGISTRY_REPORTED" },
        { "--events", "REGISTRY_EVENTS" }, { "--metrics-urls", "REGISTRY_METRICS_URLS" }, { "--access-log", "REGISTRY_ACCESS_LOG" },
        { "--log-format", "REGISTRY_LOG_FORMAT" }, { "--tls", "REGISTRY_TLS" }, { "--tls-cert", "REGISTRY_TLS_CERT" }, { "--tls-key", "REGISTRY_TLS_KEY" },
        { "--tls-host-name", "REGISTRY_TLS_HOSTNAME" }, { "--tls-validity", "REGISTRY_TLS_VALIDITY" }, { "--tls-renew-after", "REGISTRY_TLS_RENEW_AFTER" },
        { "--tls-retry-delay", "REGISTRY_TLS_RETRY_DELAY" }, { "--tls-reload-interval", "REGISTRY_TLS_RELOAD_INTERVAL" },
        { "--trusted-proxies", "REGISTRY_TRUSTED_PROXIES" }, { "--upload-max-age", "REGISTRY_UPLOAD_MAX_AGE" },
        { "--upload-max-sessions", "REGISTRY_UPLOAD_MAX_SESSIONS" }, { "--upload-max-sessions-per-repository", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_REPOSITORY" },
        { "--upload-max-sessions-per-client", "REGISTRY_UPLOAD_MAX_SESSIONS_PER_CLIENT" }, { "--upload-idle-near-cap", "REGISTRY_UPLOAD_IDLE_NEAR_CAP" },
        { "--pull-flush-interval", "REGISTRY_PULL_FLUSH_INTERVAL" }, { "--record-pulls", "REGISTRY_RECORD_PULLS" },
        { "--gc-grace", "REGISTRY_GC_GRACE" }, { "--sync-parallel-blobs", "SYNC_PARALLEL_BLOBS" }, { "--parent-ca-file", "PARENT_CA_FILE" },
    };

    /// <summary>
    /// An option a part reads from configuration but the table lacks is refused as unknown on the command line: every
    /// <c>REGISTRY_*</c> variable named in the module's source has its row (found when two branches met, one adding
    /// the per-client upload cap, the other the table).
    /// </summary>
    [Fact]
    public void Every_registry_variable_the_module_reads_has_its_option_in_the_table()
    {
        var module = Path.Combine(RepositoryRoot.Path, "modules", "ConnectedRegistry");
        var named = Directory.EnumerateFiles(module, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(f), "\"(REGISTRY_[A-Z_]+)\"").Select(m => m.Groups[1].Value))
            .ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(named);
        Assert.Empty(named.Where(v => !RegistryCommandLine.Options.Any(o => o.Variable == v)).Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(KnownOptions))]
    public async Task Every_option_in_use_is_taken_and_listed_in_the_help_with_its_environment_variable(string option, string variable)
    {
        Assert.Contains(RegistryCommandLine.Options, o => o.Name == option && o.Variable == variable);

        var run = await RunAsync(option, option == "--access-log" ? "true" : "value");
        Assert.Equal(0, run.Code);
        Assert.Equal([option, option == "--access-log" ? "true" : "value"], run.Served ?? []);

        var help = await RunAsync("--help");
        Assert.Null(help.Served);
        Assert.Contains(help.Output.Split('\n'), line => line.TrimStart().StartsWith(option + " ", StringComparison.Ordinal) && line.Contains($"[{variable}]", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("--help", "--urls", "http://127.0.0.1:0")] // --urls is not the value of --help
    [InlineData("--urls", "http://127.0.0.1:0", "--help")]
    [InlineData("--version")]
    [InlineData("token", "create", "--help")]
    [InlineData("bundle", "import", "--help")]
    [InlineData("call", "--help")]
    [InlineData("health", "--help")]
    [InlineData("sample-image", "--help")]
    public async Task Help_and_version_print_and_never_start_the_registry(params string[] args)
    {
        var run = await RunAsync(args);
        Assert.Equal(0, run.Code);
        Assert.Null(run.Served);
        Assert.NotEmpty(run.Output);
        Assert.Empty(run.Error);
    }

    [Theory]
    [InlineData("--dat", "'--data'", "--dat", "/x")]
    [InlineData("--metric-urls", "'--metrics-urls'", "--metric-urls", "")]
    [InlineData("--upload-max-session", "'--upload-max-sessions'", "--upload-max-session", "5")]
    [InlineData("stray", null, "--data", "/x", "stray")]
    [InlineData("--data", null, "--data")] // no value
    [InlineData("/urls", null, "/urls", "x")]
    [InlineData("--Twin:MqttPort", null, "--Twin:MqttPort")] // a configuration form without its value
    [InlineData("--Twin:MqttPort", null, "token", "create", "--name", "a", "--scope", "*=content/read", "--Twin:MqttPort", "1")] // commands take none
    [InlineData("tokne", "'token'", "tokne", "create")]
    public async Task Unknown_options_and_stray_arguments_exit_2_naming_them_and_start_nothing(string named, string? suggestion, params string[] args)
    {
        var run = await RunAsync(args);
        Assert.Equal(2, run.Code);
        Assert.Null(run.Served);
        Assert.Empty(run.Output);
        Assert.Contains(named, run.Error, StringComparison.Ordinal);
        if (suggestion is not null)
        {
            Assert.Contains($"Did you mean {suggestion}?", run.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Configuration_forms_go_through_to_configuration_after_the_options_the_last_of_a_repeated_option_counting()
    {
        var run = await RunAsync("--Twin:MqttPort", "1883", "--urls", "http://127.0.0.1:1", "--Logging:LogLevel:Microsoft.AspNetCore=Information", "--access-log",
            "--urls", "http://127.0.0.1:2", "--metrics-urls", "", "--hostBuilder:reloadConfigOnChange=true", "--data=/srv/data");

        Assert.Equal(0, run.Code);
        Assert.Equal(
            ["--urls", "http://127.0.0.1:2", "--data", "/srv/data", "--metrics-urls", "", "--access-log", "true",
             "--Twin:MqttPort=1883", "--Logging:LogLevel:Microsoft.AspNetCore=Information", "--hostBuilder:reloadConfigOnChange=true"],
            run.Served ?? []);
    }

    [Fact]
    public void A_configuration_form_is_a_section_and_key_and_nothing_else()
    {
        var (forms, others, error) = RegistryCommandLine.SplitConfigurationForms(["--urls", "http://[::1]:5000", "--Events:QueueCapacity", "10", "--data:/x", "--tls-cert", "a:b.pem"]);
        Assert.Null(error);
        Assert.Equal(["--Events:QueueCapacity=10"], forms);
        Assert.Equal(["--urls", "http://[::1]:5000", "--data:/x", "--tls-cert", "a:b.pem"], others);
    }

    private static async Task<(int Code, string Output, string Error, string[]? Served)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[]? served = null;
        var code = await RegistryHost.RunAsync(args, output, error, (serverArgs, _) =>
        {
            served = serverArgs;
            return Task.FromResult(0);
        });
        return (code, output.ToString(), error.ToString(), served);
    }
}
