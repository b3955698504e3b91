using ConnectedRegistry.Auth;
using ConnectedRegistry.Bundles;
using ConnectedRegistry.Core;
using ConnectedRegistry.Distribution;
using ConnectedRegistry.Events;
using ConnectedRegistry.Hierarchy;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Monitoring;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Tls;
using ConnectedRegistry.Twin;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace ConnectedRegistry.Hosting;

/// <summary>
/// Builds and runs the registry. Program.cs calls <see cref="RunAsync"/>; tests call <see cref="Build"/>
/// with their own arguments (for example <c>--urls http://127.0.0.1:0 --data DIR</c>).
/// </summary>
public static partial class RegistryHost
{
    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error);

    /// <summary>
    /// Runs the command line: a command (<c>token</c>, <c>health</c>, <c>bundle</c>, <c>call</c>, <c>sample-image</c>),
    /// <c>--help</c> or <c>--version</c> (which start and create nothing), or the registry. Bad arguments exit 2.
    /// </summary>
    /// <param name="serve">What runs the registry with the arguments it is given (tests put a probe here); the registry by default.</param>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, Func<string[], CancellationToken, Task<int>>? serve = null)
    {
        var (forms, rest, formError) = RegistryCommandLine.SplitConfigurationForms(args);
        if (formError is not null)
        {
            await error.WriteLineAsync($"{CommandLineRunner.ProgramName}: {formError}");
            return CommandLineRunner.BadArguments;
        }

        var commandLine = RegistryCommandLine.Create(output, dataArgs => Build(dataArgs, QuietOnStandardError), serve ?? ((serverArgs, _) => ServeAsync(serverArgs, error)), forms);
        return await CommandLineRunner.RunAsync(commandLine, rest, output, error);
    }

    private static async Task<int> ServeAsync(string[] args, TextWriter error)
    {
        try
        {
            await using var app = Build(args);
            await app.RunAsync();
            return 0;
        }
        catch (Exception ex) when (StartupError(ex) is { } message)
        {
            // A setting the module cannot start with: one line that names it and exit code 2, not a stack trace; in
            // IoT Edge also in the reported properties, where the operator looks.
            await error.WriteLineAsync($"error: {message}");
            await StartupErrorReport.TryReportAsync(message, ReportConfiguration(args), ModuleEnvironment.FromProcess(), TimeProvider.System, StartupErrorReport.DefaultDeadline);
            return 2;
        }
    }

    /// <summary>The message of an error in the module's own settings or environment found at start-up; null for any other error.</summary>
    internal static string? StartupError(Exception ex) => ex switch
    {
        StartupException => ex.Message,
        IOException { InnerException: System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse } }
            or IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } => $"--urls: {ex.Message}",
        AggregateException { InnerExceptions: [var only] } => StartupError(only), // hosted services that failed to start
        _ => null,
    };

    /// <summary>The configuration a start-up error is reported with (edgeHub's ports are in its <c>Twin</c> section), read as the host reads it.</summary>
    private static IConfiguration ReportConfiguration(string[] args)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables();
        try
        {
            return configuration.AddCommandLine(MonitoringSwitches.Normalize(args)).Build();
        }
        catch (FormatException)
        {
            return configuration.Build();
        }
    }

    private const string NoConfigReload = "--hostBuilder:reloadConfigOnChange=false";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // No reloading of configuration files: the module's settings come from its twin, and reloading watches the
        // content root (the working directory) recursively with inotify: started from / it walked the whole file
        // system (44,000 watches, 12 s before it served), and a data folder under it drew an event per file written.
        // appsettings.json is still read once at start. A later --hostBuilder:reloadConfigOnChange=true turns it back on.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [NoConfigReload, .. MonitoringSwitches.Normalize(args)] });
        if (string.IsNullOrWhiteSpace(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(RegistryOptions.DefaultUrl);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // blobs are streamed; limits are per endpoint
        });

        var options = RegistryOptions.FromConfiguration(builder.Configuration);

        // Before anything is built on it: each part otherwise finds an unusable data folder where it first touches it.
        DataRootCheck.Run(options.DataRoot, [.. DataLayout.Folders, Path.GetDirectoryName(SigningKey.RelativePath)!, Path.GetDirectoryName(LastGoodDesired.RelativePath)!, BundlePaths.Folder]);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<RegistrySettingsStore>();
        builder.Services.AddSingleton<IRegistrySettingsSource>(sp => sp.GetRequiredService<RegistrySettingsStore>());
        builder.Services.AddSingleton<ModuleState>();
        builder.AddMonitoring(); // before the parts, so its feeds see their first events
        builder.AddRegistryCore();
        builder.AddModuleIdentity();
        builder.AddDistributionApi();
        builder.AddRegistryAuth();
        builder.AddParentSync();
        builder.AddModuleTwin();
        builder.AddHierarchy();
        builder.AddRegistryTls();
        builder.AddRegistryEvents();
        builder.AddBundles();
        builder.Services.AddIdleMemoryTrim();
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseIdleMemoryTrim(); // memory is given back only once requests stop
        app.UseMiddleware<OciRouteMiddleware>(); // the /v2 route, parsed once for auth, the endpoints and the metrics
        app.UseRequestMetrics();
        app.UseMiddleware<OciErrorMiddleware>();
        app.UseMiddleware<SettingsGateMiddleware>(); // fail closed: 503 until settings apply, before auth sees the defaults
        app.UseRegistryAuth();
        app.MapDistributionApi();
        app.MapHierarchyApi();

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
            Log.Started(app.Logger, string.Join(", ", addresses ?? []), options.DataRoot);
        });
        return app;
    }

    /// <summary>A command's logging: warnings and errors only, on stderr, so its stdout is its JSON answer.</summary>
    private static void QuietOnStandardError(WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Registry listening on {Addresses}, data in {DataRoot}")]
        public static partial void Started(ILogger logger, string addresses, string dataRoot);
    }
}
