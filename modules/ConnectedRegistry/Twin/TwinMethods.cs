using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary><c>getStatus</c>: the reported state plus what is not reported (running settings without secrets, the twin link, the methods).</summary>
public sealed class GetStatusMethod(ModuleTwinService twin, ReportedPropertiesReporter reporter, DesiredPropertiesPipeline pipeline, IRegistrySettingsSource settings, DirectMethodDispatcher dispatcher, TimeProvider time) : IDirectMethod
{
    public Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken)
    {
        if (payload is not null and not JObject)
        {
            throw new DirectMethodException(400, "BadPayload", "getStatus takes no payload or an empty object.");
        }

        var current = settings.Current;
        var client = twin.Client;
        var status = pipeline.Status;
        var result = new JObject
        {
            ["reported"] = reporter.Current(),
            ["module"] = new JObject
            {
                ["mode"] = client?.Kind,
                ["twinConnected"] = client?.IsConnected ?? false,
                ["deviceId"] = twin.Identity?.DeviceId,
                ["moduleId"] = twin.Identity?.ModuleId,
                ["connectsTo"] = twin.Identity?.ConnectHost,
                ["startedAt"] = twin.StartedAt.ToString("o"),
                ["uptimeSeconds"] = (long)(time.GetUtcNow() - twin.StartedAt).TotalSeconds,
                ["reportedPatchesSent"] = reporter.PatchesSent,
            },
            ["desired"] = new JObject { ["version"] = status.Version, ["code"] = status.Code, ["description"] = status.Description },
            ["settings"] = Describe(current),
            ["methods"] = new JArray(dispatcher.Names.Order(StringComparer.Ordinal)),
        };
        return Task.FromResult(DirectMethodResult.Ok(result));
    }

    /// <summary>The running settings without password hashes.</summary>
    public static JObject Describe(RegistrySettings settings)
    {
        var tokens = new JObject();
        foreach (var (name, token) in settings.ClientTokens)
        {
            tokens[name] = new JObject
            {
                ["status"] = token.Enabled ? "enabled" : "disabled",
                ["expiry"] = token.Expiry?.ToString("o"),
                ["scopeMap"] = JObject.FromObject(token.ScopeMap),
            };
        }

        var children = new JObject();
        foreach (var (name, child) in settings.Children)
        {
            children[name] = new JObject { ["mode"] = child.Mode.ToString(), ["repositories"] = new JArray(child.Repositories) };
        }

        return new JObject
        {
            ["schemaVersion"] = settings.SchemaVersion,
            ["name"] = settings.Name,
            ["mode"] = settings.Mode.ToString(),
            ["parent"] = settings.Parent is null ? null : new JObject { ["endpoint"] = settings.Parent.Endpoint.ToString(), ["syncTokenName"] = settings.Parent.SyncTokenName },
            ["sync"] = new JObject
            {
                ["schedule"] = settings.Sync.Schedule,
                ["window"] = settings.Sync.Window?.ToString("c"),
                ["messageTtl"] = settings.Sync.MessageTtl.ToString("c"),
                ["continuous"] = settings.Sync.IsContinuous,
                ["repositories"] = new JArray(settings.Sync.Repositories),
            },
            ["clientTokens"] = tokens,
            ["children"] = children,
            ["garbageCollection"] = new JObject
            {
                ["enabled"] = settings.GarbageCollection.Enabled,
                ["schedule"] = settings.GarbageCollection.Schedule,
                ["deleteUntaggedManifests"] = settings.GarbageCollection.DeleteUntaggedManifests,
            },
            ["anonymousPull"] = settings.AnonymousPull,
            ["logLevel"] = settings.LogLevel,
        };
    }
}

/// <summary><c>garbageCollect</c>: runs <see cref="IGarbageCollector"/> now; 501 when this build has none.</summary>
public sealed class GarbageCollectMethod(IServiceProvider services) : IDirectMethod
{
    public async Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken)
    {
        if (payload is not null and not JObject)
        {
            throw new DirectMethodException(400, "BadPayload", "garbageCollect takes no payload or an empty object.");
        }

        var collector = services.GetService<IGarbageCollector>();
        if (collector is null)
        {
            return DirectMethodResult.Error(501, "NotImplemented", "Garbage collection is not available in this module.");
        }

        var result = await collector.CollectAsync(cancellationToken);
        return DirectMethodResult.Ok(new JObject
        {
            ["blobsDeleted"] = result.BlobsDeleted,
            ["bytesFreed"] = result.BytesFreed,
            ["manifestsDeleted"] = result.ManifestsDeleted,
            ["durationMs"] = (long)result.Duration.TotalMilliseconds,
        });
    }
}
