using System.CommandLine;
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
    /// <summary>Runs <c>bundle ARGS</c> alone (the registry's command line runs it through <see cref="Create"/>).</summary>
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, Func<string[], WebApplication> openDataRoot, Func<string, string?>? environment = null) =>
        CommandLineRunner.RunAsync(CommandLineRunner.Root("EdgeConnectedRegistry", Create(output, openDataRoot, environment)), ["bundle", .. args], output, error);

    /// <summary>The <c>bundle</c> command and its four commands; each prints its JSON answer to <paramref name="output"/>.</summary>
    public static Command Create(TextWriter output, Func<string[], WebApplication> openDataRoot, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        Option<string> Path(string name, string description, bool required = false) => new(name) { Description = description, HelpName = "FILE", Required = required };
        Option<string> Data() => new("--data") { Description = "The data root of this module (the registry stopped).", HelpName = "DIR", Required = true };
        Option<string> Desired() => Path("--desired", "The settings to use (a desired properties document); default: the last good desired properties kept in the data root.");

        var keygen = new Command("keygen", "Write an exporter key pair: FILE (private, PEM, mode 0600) and FILE.pub (public, PEM); prints the twin snippet that trusts it.")
        {
            Path("--key", "Where the private key goes; the public key goes to FILE.pub. Never overwrites.", required: true),
        };
        var state = new Command("state", "Write what a stopped site holds (its state file, for export --since).")
        {
            Data(), Desired(), Path("--output", "The state file to write.", required: true),
        };
        var export = new Command("export", "Export a signed bundle of what a site lacks, from a parent registry or a data root of this module.")
        {
            new Option<string>("--parent") { Description = "The parent registry, http:// or https:// (its password from PARENT_SYNC_TOKEN_PASSWORD).", HelpName = "URL" },
            new Option<string>("--user") { Description = "The user name at the parent (default: the registry name).", HelpName = "NAME" },
            Path("--ca-file", "CA certificates (PEM) to trust for the parent."),
            new Option<string>("--from-data") { Description = "Export from a data root of this module instead of a parent.", HelpName = "DIR" },
            Path("--key", "The exporter's private key.", required: true),
            Path("--output", "The bundle to write (continued when FILE.partial exists).", required: true),
            new Option<string>("--registry") { Description = "The site's registry name (default: from --since).", HelpName = "NAME" },
            new Option<string[]>("--repository") { Description = "A repository or 'prefix/*' to export, repeatable (default: the sync set in --since).", HelpName = "PATTERN" },
            Path("--since", "The site's state file: export only what it lacks, with its filters."),
        };
        var bundleFile = new Argument<string>("BUNDLE") { Description = "The bundle file (tar)." };
        var import = new Command("import", "Import a bundle into a stopped site's data root.")
        {
            Data(), Desired(), bundleFile,
        };
        keygen.SetAction((r, _) => RunOneAsync(r, o => KeygenAsync(o, output)));
        state.SetAction((r, _) => RunOneAsync(r, o => StateAsync(o, output, openDataRoot)));
        export.SetAction((r, _) => RunOneAsync(r, o => ExportAsync(o, output, r.InvocationConfiguration.Error, environment, openDataRoot)));
        import.SetAction((r, _) => RunOneAsync(r, o => ImportAsync(o, r.GetValue(bundleFile)!, output, openDataRoot)));
        return new Command("bundle", "Offline bundles: a site's state, a signed export, its import (state and import on a stopped module; the running one has the bundleState and importBundle methods).")
        {
            keygen, state, export, import,
        };
    }

    /// <summary>Runs one bundle command: exit 0 done, 1 refused or failed (the reason on stderr), 2 bad arguments.</summary>
    private static async Task<int> RunOneAsync(ParseResult result, Func<Arguments, Task<int>> run)
    {
        var error = result.InvocationConfiguration.Error;
        try
        {
            return await run(Arguments.From(result));
        }
        catch (BadArgumentsException ex)
        {
            return CommandLineRunner.Refuse(result, error, ex.Message);
        }
        catch (BundleRefusedException ex)
        {
            await error.WriteLineAsync($"{CommandLineRunner.PathOf(result)}: {ex.Message}");
            return 1;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HttpRequestException or ParentRegistryException or ParentContentException or TimeoutException or StartupException)
        {
            await error.WriteLineAsync($"{CommandLineRunner.PathOf(result)}: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> KeygenAsync(Arguments options, TextWriter output)
    {
        if (options.One("key") is not { } path)
        {
            return await BadArgumentsAsync("keygen needs --key FILE");
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

    private static async Task<int> StateAsync(Arguments options, TextWriter output, Func<string[], WebApplication> openDataRoot)
    {
        if (options.One("data") is not { } data || options.One("output") is not { } path)
        {
            return await BadArgumentsAsync("state needs --data DIR and --output FILE");
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
            return await BadArgumentsAsync("export needs either --parent URL or --from-data DIR, and --key FILE and --output FILE");
        }

        Uri? parentUri = null;
        if (parentText is not null && (!Uri.TryCreate(parentText, UriKind.Absolute, out parentUri) || parentUri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(parentUri.UserInfo)))
        {
            return await BadArgumentsAsync("--parent must be an http:// or https:// URL without credentials");
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
            return await BadArgumentsAsync("export needs --registry NAME (or a --since state that names it)");
        }

        if (since?.Registry is { } stateRegistry && stateRegistry != registry)
        {
            throw new BundleRefusedException($"the state given with --since is of registry '{stateRegistry}', not '{registry}'");
        }

        var patterns = options.All("repository") is { Count: > 0 } given ? given : since?.SyncSet ?? [];
        if (patterns.Count == 0)
        {
            return await BadArgumentsAsync("export needs --repository PATTERN (or a --since state that holds the site's sync set)");
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

    private static async Task<int> ImportAsync(Arguments options, string bundle, TextWriter output, Func<string[], WebApplication> openDataRoot)
    {
        if (options.One("data") is not { } data)
        {
            return await BadArgumentsAsync("import needs --data DIR");
        }

        await using var app = OpenDataRoot(openDataRoot, data, options.One("desired"));
        var result = await app.Services.GetRequiredService<BundleImporter>().ImportAsync(Path.GetFullPath(bundle), CancellationToken.None);
        await output.WriteLineAsync(Json(result));
        return result.Failures.Count == 0 ? 0 : 1;
    }

    /// <summary>The module's services on <paramref name="data"/>, not started (<see cref="StoppedDataRoot"/>), its refusals as the bundle command's.</summary>
    private static WebApplication OpenDataRoot(Func<string[], WebApplication> openDataRoot, string data, string? desiredPath)
    {
        try
        {
            return StoppedDataRoot.Open(openDataRoot, data, desiredPath);
        }
        catch (StoppedDataRootException ex)
        {
            throw new BundleRefusedException(ex.Message);
        }
    }

    /// <summary>A result as the command prints it: camelCase JSON, as the module's other commands print theirs.</summary>
    private static string Json(object result) =>
        JObject.FromObject(result, JsonSerializer.Create(new JsonSerializerSettings { ContractResolver = new Newtonsoft.Json.Serialization.CamelCasePropertyNamesContractResolver() }))
            .ToString(Formatting.Indented);

    private static Task<int> BadArgumentsAsync(string message) => throw new BadArgumentsException(message);

    /// <summary>A combination of options the parser cannot see is wrong (both --parent and --from-data, say): exit 2.</summary>
    private sealed class BadArgumentsException(string message) : Exception(message);

    /// <summary>The values of the options given, by name without the dashes (some repeatable).</summary>
    private sealed class Arguments
    {
        private readonly Dictionary<string, IReadOnlyList<string>> _values = new(StringComparer.Ordinal);

        public string? One(string name) => _values.TryGetValue(name, out var v) ? v[^1] : null;

        public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var v) ? v : [];

        public static Arguments From(ParseResult result)
        {
            var arguments = new Arguments();
            foreach (var option in result.CommandResult.Command.Options)
            {
                var value = option switch
                {
                    Option<string> one => result.GetValue(one) is { } text ? [text] : null,
                    Option<string[]> many => result.GetValue(many),
                    _ => null,
                };
                if (value is { Length: > 0 })
                {
                    arguments._values[option.Name.TrimStart('-')] = value;
                }
            }

            return arguments;
        }
    }
}
