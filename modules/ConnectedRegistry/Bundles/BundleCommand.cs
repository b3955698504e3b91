using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Twin;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// <c>ConnectedRegistry bundle keygen|state|export|import</c>: offline bundles from the command line. <c>state</c> and
/// <c>import</c> work on a stopped module's data root (<paramref name="openDataRoot"/> builds the module's services on
/// it without starting it) with the settings of <c>--desired FILE</c>, else the last good desired properties saved
/// in the data root. Prints one JSON object on success; exit 0 done, 1 refused or failed (the reason on stderr), 2 bad arguments.
/// </summary>
public static class BundleCommand
{
    public const string Usage = """
        Usage:
          bundle keygen --key FILE                  write an exporter key pair: FILE (private, PEM) and FILE.pub (public, PEM)
          bundle state --data DIR [--desired FILE] --output STATE.json
          bundle export (--parent URL [--user NAME] [--ca-file FILE] | --from-data DIR) --key FILE --output BUNDLE.tar
                        [--registry NAME] [--repository PATTERN]... [--since STATE.json]
                        (the parent's password comes from PARENT_SYNC_TOKEN_PASSWORD; --from-data reads a data root of this module)
          bundle import --data DIR [--desired FILE] BUNDLE.tar
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, Func<string[], WebApplication> openDataRoot, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        if (args.Length == 0 || !Arguments.TryParse(args[1..], out var options, out var positional))
        {
            await error.WriteLineAsync(Usage);
            return 2;
        }

        try
        {
            return args[0] switch
            {
                "keygen" => await KeygenAsync(options, output, error),
                "state" => await StateAsync(options, output, error, openDataRoot),
                "export" => await ExportAsync(options, output, error, environment, openDataRoot),
                "import" when positional.Count == 1 => await ImportAsync(options, positional[0], output, error, openDataRoot),
                _ => await BadArgumentsAsync(error, $"unknown bundle command '{string.Join(' ', args)}'"),
            };
        }
        catch (BundleRefusedException ex)
        {
            await error.WriteLineAsync($"bundle {args[0]}: {ex.Message}");
            return 1;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HttpRequestException or ParentRegistryException or ParentContentException or TimeoutException or StartupException)
        {
            await error.WriteLineAsync($"bundle {args[0]}: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> KeygenAsync(Arguments options, TextWriter output, TextWriter error)
    {
        if (options.One("key") is not { } path)
        {
            return await BadArgumentsAsync(error, "keygen needs --key FILE");
        }

        var publicPath = path + ".pub";
        if (File.Exists(path) || File.Exists(publicPath) || NoFollowFile.IsLink(path) || NoFollowFile.IsLink(publicPath))
        {
            throw new BundleRefusedException($"{path} or {publicPath} exists already (or is a link); keygen never overwrites a key");
        }

        var (privatePem, publicPem, keyId) = BundleSigning.NewKeyPair();
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // the private key: owner only
        }

        await using (var file = new FileStream(path, create))
        await using (var writer = new StreamWriter(file))
        {
            await writer.WriteAsync(privatePem);
        }

        await using (var file = new FileStream(publicPath, FileMode.CreateNew, FileAccess.Write)) // exclusive: never through a link
        await using (var writer = new StreamWriter(file))
        {
            await writer.WriteAsync(publicPem + "\n");
        }

        var publicKey = string.Concat(publicPem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).Select(l => l.Trim()));
        await output.WriteLineAsync(new JObject
        {
            ["privateKey"] = Path.GetFullPath(path),
            ["publicKey"] = Path.GetFullPath(publicPath),
            ["keyId"] = keyId,
            ["desired"] = new JObject { ["bundles"] = new JObject { ["trustedKeys"] = new JArray(publicKey) } },
        }.ToString(Formatting.Indented));
        return 0;
    }

    private static async Task<int> StateAsync(Arguments options, TextWriter output, TextWriter error, Func<string[], WebApplication> openDataRoot)
    {
        if (options.One("data") is not { } data || options.One("output") is not { } path)
        {
            return await BadArgumentsAsync(error, "state needs --data DIR and --output FILE");
        }

        await using var app = OpenDataRoot(openDataRoot, data, options.One("desired"));
        var services = app.Services;
        var state = BundleState.Read(services.GetRequiredService<IRegistrySettingsSource>().Current, services.GetRequiredService<RegistryStore>(),
            services.GetRequiredService<BlobStore>(), services.GetRequiredService<TimeProvider>());
        await BundleStateFile.WriteAsync(Path.GetFullPath(path), state, CancellationToken.None);
        await output.WriteLineAsync(new JObject
        {
            ["path"] = Path.GetFullPath(path),
            ["registry"] = state.Registry,
            ["repositories"] = state.Repositories.Count,
            ["tags"] = state.Repositories.Values.Sum(t => t.Count),
            ["blobs"] = state.Blobs.Count,
        }.ToString(Formatting.Indented));
        return 0;
    }

    private static async Task<int> ExportAsync(Arguments options, TextWriter output, TextWriter error, Func<string, string?> environment, Func<string[], WebApplication> openDataRoot)
    {
        var parentText = options.One("parent");
        var fromData = options.One("from-data");
        if ((parentText is null) == (fromData is null) || options.One("key") is not { } keyPath || options.One("output") is not { } outputPath)
        {
            return await BadArgumentsAsync(error, "export needs either --parent URL or --from-data DIR, and --key FILE and --output FILE");
        }

        Uri? parentUri = null;
        if (parentText is not null && (!Uri.TryCreate(parentText, UriKind.Absolute, out parentUri) || parentUri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(parentUri.UserInfo)))
        {
            return await BadArgumentsAsync(error, "--parent must be an http:// or https:// URL without credentials");
        }

        if (fromData is not null && !File.Exists(Path.Combine(fromData, DataLayout.DatabaseFile)))
        {
            throw new BundleRefusedException($"{fromData} is not a data root of this module (no {DataLayout.DatabaseFile})");
        }

        BundleState? since = null;
        byte[]? sinceFile = null;
        if (options.One("since") is { } sincePath)
        {
            sinceFile = await File.ReadAllBytesAsync(sincePath);
            since = BundleState.Parse(sinceFile);
        }

        var registry = options.One("registry") ?? since?.Registry;
        if (registry is null)
        {
            return await BadArgumentsAsync(error, "export needs --registry NAME (or a --since state that names it)");
        }

        if (since?.Registry is { } stateRegistry && stateRegistry != registry)
        {
            throw new BundleRefusedException($"the state given with --since is of registry '{stateRegistry}', not '{registry}'");
        }

        var patterns = options.All("repository") is { Count: > 0 } given ? given : since?.SyncSet ?? [];
        if (patterns.Count == 0)
        {
            return await BadArgumentsAsync(error, "export needs --repository PATTERN (or a --since state that holds the site's sync set)");
        }

        var password = environment(ParentCredentials.PasswordVariable);
        var user = options.One("user");
        var credentials = string.IsNullOrEmpty(password) ? null : new ParentCredentials(user ?? registry, password);
        using var key = BundleSigning.LoadPrivateKey(await File.ReadAllTextAsync(keyPath));
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).AddFilter(l => l >= LogLevel.Information)
            .Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
        var logger = loggers.CreateLogger("ConnectedRegistry.Bundles.BundleExporter");
        await using var dataRoot = fromData is null ? null : openDataRoot(["--data", Path.GetFullPath(fromData), "--urls", "http://127.0.0.1:0"]);
        using var client = parentUri is null ? null : new ParentRegistryClient(parentUri, credentials, new ParentClientOptions { CaFile = options.One("ca-file") }, TimeProvider.System, logger);
        IParentRegistry parent = client ?? (IParentRegistry)new DataRootSource(dataRoot!.Services.GetRequiredService<RegistryStore>());
        var request = new BundleExportRequest(registry, BundleSelection.Of(patterns, since?.Filters), since, sinceFile, Environment.UserName);
        BundleExportResult result;
        try
        {
            result = await new BundleExporter(logger).ExportAsync(parent, request, key, outputPath, CancellationToken.None);
        }
        catch (Exception ex) when (IsInterruption(ex) && File.Exists(Path.GetFullPath(outputPath) + ".partial"))
        {
            throw new BundleRefusedException($"{ex.Message} (what is written is kept: run the same command again to continue)", ex);
        }

        await output.WriteLineAsync(Json(result));
        return 0;
    }

    /// <summary>What stops an export half-way (the source, the link or the disk), as opposed to a wrong argument.</summary>
    private static bool IsInterruption(Exception ex) =>
        ex is BundleRefusedException or IOException or HttpRequestException or ParentRegistryException or ParentContentException or TimeoutException;

    private static async Task<int> ImportAsync(Arguments options, string bundle, TextWriter output, TextWriter error, Func<string[], WebApplication> openDataRoot)
    {
        if (options.One("data") is not { } data)
        {
            return await BadArgumentsAsync(error, "import needs --data DIR");
        }

        await using var app = OpenDataRoot(openDataRoot, data, options.One("desired"));
        var result = await app.Services.GetRequiredService<BundleImporter>().ImportAsync(Path.GetFullPath(bundle), CancellationToken.None);
        await output.WriteLineAsync(Json(result));
        return result.Failures.Count == 0 ? 0 : 1;
    }

    /// <summary>The module's services on <paramref name="data"/>, not started, with the settings of the desired file or the last good ones.</summary>
    private static WebApplication OpenDataRoot(Func<string[], WebApplication> openDataRoot, string data, string? desiredPath)
    {
        if (!Directory.Exists(data))
        {
            throw new BundleRefusedException($"the data root {data} does not exist");
        }

        JObject desired;
        if (desiredPath is not null)
        {
            desired = TwinJson.ParseObject(File.ReadAllText(desiredPath));
        }
        else if (!new LastGoodDesired(Path.Combine(data, "twin", "last-good-desired.json")).TryLoad(out desired, out _))
        {
            throw new BundleRefusedException("no settings: the data root holds no last good desired properties; give --desired FILE");
        }

        var parsed = DesiredPropertiesParser.Parse(desired);
        if (parsed.Settings is null)
        {
            throw new BundleRefusedException("the desired properties are rejected: " + string.Join("; ", parsed.Errors));
        }

        var app = openDataRoot(["--data", Path.GetFullPath(data), "--urls", "http://127.0.0.1:0"]);
        app.Services.GetRequiredService<RegistrySettingsStore>().Apply(parsed.Settings);
        return app;
    }

    /// <summary>A result as the command prints it: camelCase JSON, as the module's other commands print theirs.</summary>
    private static string Json(object result) =>
        JObject.FromObject(result, JsonSerializer.Create(new JsonSerializerSettings { ContractResolver = new Newtonsoft.Json.Serialization.CamelCasePropertyNamesContractResolver() }))
            .ToString(Formatting.Indented);

    private static async Task<int> BadArgumentsAsync(TextWriter error, string message)
    {
        await error.WriteLineAsync($"bundle: {message}\n{Usage}");
        return 2;
    }

    /// <summary><c>--name value</c> options (some repeatable) and positional arguments.</summary>
    private sealed class Arguments
    {
        private static readonly string[] Known = ["key", "data", "desired", "output", "parent", "from-data", "user", "registry", "repository", "since", "ca-file"];
        private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

        public string? One(string name) => _values.TryGetValue(name, out var v) ? v[^1] : null;

        public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var v) ? v : [];

        public static bool TryParse(string[] args, out Arguments options, out List<string> positional)
        {
            options = new Arguments();
            positional = [];
            for (var i = 0; i < args.Length; i++)
            {
                if (args[i].StartsWith("--", StringComparison.Ordinal))
                {
                    var name = args[i][2..];
                    if (!Known.Contains(name) || i + 1 >= args.Length)
                    {
                        return false;
                    }

                    if (!options._values.TryGetValue(name, out var list))
                    {
                        options._values[name] = list = [];
                    }

                    list.Add(args[++i]);
                }
                else
                {
                    positional.Add(args[i]);
                }
            }

            return true;
        }
    }
}
