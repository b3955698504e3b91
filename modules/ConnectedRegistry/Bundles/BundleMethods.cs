using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Bundles;

/// <summary>
/// <c>bundleState</c>: writes this registry's state for its sync set (<see cref="BundleState"/>) to a file in the data
/// volume's <c>bundles/</c> folder (payload <c>{"file": "NAME.json"}</c>, default <c>state.json</c>) and answers with
/// its path and counts. The file is what a courier carries to headquarters for <c>bundle export --since</c>. Neither
/// the file nor <c>bundles/</c> may be a link (<see cref="BundlePaths.ResolveForWrite"/>): the volume may be written by
/// others, and a link there would have the module write wherever it points.
/// </summary>
public sealed class BundleStateMethod(RegistryOptions options, IRegistrySettingsSource settings, RegistryStore store, BlobStore blobs, TimeProvider time) : IDirectMethod
{
    public async Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken)
    {
        var name = BundleMethodPayload.Read(payload, "bundleState", "file", required: false) ?? "state.json";
        if (name != Path.GetFileName(name) || !name.EndsWith(".json", StringComparison.Ordinal))
        {
            throw new DirectMethodException(400, "BadPayload", "file must be a file name ending in .json (it is written in the data volume's bundles/ folder)");
        }

        var path = BundlePaths.ResolveForWrite(options.DataRoot, Path.Combine(BundlePaths.Folder, name), out var reason)
            ?? throw new DirectMethodException(400, "BadPath", reason);
        var state = BundleState.Read(settings.Current, store, blobs, time);
        try
        {
            await BundleStateFile.WriteAsync(path, state, cancellationToken);
        }
        catch (BundleRefusedException ex)
        {
            throw new DirectMethodException(400, "BadPath", ex.Message); // a link planted since the check
        }

        return DirectMethodResult.Ok(new JObject
        {
            ["path"] = Path.Combine(BundlePaths.Folder, name),
            ["registry"] = state.Registry,
            ["created"] = state.Created.ToString("o"),
            ["repositories"] = state.Repositories.Count,
            ["tags"] = state.Repositories.Values.Sum(t => t.Count),
            ["blobs"] = state.Blobs.Count,
        });
    }
}

/// <summary>
/// <c>importBundle</c>: payload <c>{"path": "bundles/site.tar"}</c>, a bundle file inside the data volume. Starts
/// the import and answers at once (202 with <c>started</c>); progress shows in the reported <c>sync</c>, the outcome
/// in the status detail <c>BundleImport</c>. 400 for a path outside the volume or no such file; 409 while another
/// import runs or when no exporter key is trusted.
/// </summary>
public sealed partial class ImportBundleMethod(RegistryOptions options, IRegistrySettingsSource settings, BundleImporter importer, ILogger<ImportBundleMethod> logger) : IDirectMethod
{
    public Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken)
    {
        var requested = BundleMethodPayload.Read(payload, "importBundle", "path", required: true);
        var path = BundlePaths.Resolve(options.DataRoot, requested, out var reason)
            ?? throw new DirectMethodException(400, "BadPath", reason);
        if (!File.Exists(path))
        {
            throw new DirectMethodException(400, "BadPath", $"no bundle file at '{requested}' in the data volume");
        }

        if (settings.Current.Bundles.TrustedKeys.Count == 0)
        {
            return Task.FromResult(DirectMethodResult.Error(409, "NoTrustedKeys", "no exporter key is trusted (twin bundles.trustedKeys is empty): no bundle is imported"));
        }

        if (importer.IsRunning)
        {
            return Task.FromResult(DirectMethodResult.Error(409, "ImportRunning", "another bundle import is running"));
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await importer.ImportAsync(path, CancellationToken.None);
            }
            catch (BundleRefusedException)
            {
                // reported as the status detail by the importer
            }
            catch (Exception ex)
            {
                Log.Failed(logger, ex);
            }
        }, CancellationToken.None);
        return Task.FromResult(new DirectMethodResult(202, new JObject { ["started"] = true, ["path"] = requested }));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4212, Level = LogLevel.Error, Message = "The bundle import failed")]
        public static partial void Failed(ILogger logger, Exception exception);
    }
}

/// <summary>The bundle methods' payload: an object with at most one string member.</summary>
internal static class BundleMethodPayload
{
    public static string? Read(JToken? payload, string method, string member, bool required)
    {
        if (payload is null or { Type: JTokenType.Null } && !required)
        {
            return null;
        }

        if (payload is not JObject obj || obj.Properties().Any(p => p.Name != member) || (obj[member] is { } v && v.Type != JTokenType.String))
        {
            throw new DirectMethodException(400, "BadPayload", $"{method} takes {{\"{member}\": \"...\"}}{(required ? string.Empty : " or no payload")}.");
        }

        var value = (string?)obj[member];
        if (required && string.IsNullOrWhiteSpace(value))
        {
            throw new DirectMethodException(400, "BadPayload", $"{method} needs \"{member}\".");
        }

        return value;
    }
}

/// <summary>Writes a state file whole or not at all, never through a link (<see cref="NoFollowFile"/>).</summary>
public static class BundleStateFile
{
    public static async Task WriteAsync(string path, BundleState state, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await NoFollowFile.WriteAsync(path, state.ToJson(), cancellationToken);
    }
}
