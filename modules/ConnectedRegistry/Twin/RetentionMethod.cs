using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// <c>retention</c>: payload <c>{"dryRun": true}</c> lists what a retention pass would remove, with sizes, and changes
/// nothing; without it (no payload, <c>{}</c> or <c>"dryRun": false</c>) runs a pass now and answers what it removed. The
/// lists hold at most <see cref="MaxListed"/> entries each (a method's answer must stay small); the counts cover all.
/// </summary>
public sealed class RetentionMethod(IServiceProvider services) : IDirectMethod
{
    public const int MaxListed = 1000;

    public async Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken)
    {
        var dryRun = false;
        if (payload is JObject body)
        {
            foreach (var property in body.Properties())
            {
                if (property.Name != "dryRun" || property.Value.Type is not (JTokenType.Boolean or JTokenType.Null))
                {
                    throw new DirectMethodException(400, "BadPayload", "retention takes no payload or {\"dryRun\": true|false}.");
                }

                dryRun = property.Value.Type == JTokenType.Boolean && property.Value.Value<bool>();
            }
        }
        else if (payload is not null)
        {
            throw new DirectMethodException(400, "BadPayload", "retention takes no payload or {\"dryRun\": true|false}.");
        }

        if (services.GetService<RetentionPass>() is not { } pass)
        {
            return DirectMethodResult.Error(501, "NotImplemented", "Retention is not available in this module.");
        }

        return DirectMethodResult.Ok(Describe(await pass.RunAsync(dryRun, cancellationToken), MaxListed));
    }

    /// <summary>A pass's result as the method and the <c>retention</c> command print it; lists cut at <paramref name="maxListed"/> (null: whole).</summary>
    public static JObject Describe(RetentionResult result, int? maxListed)
    {
        var take = maxListed ?? int.MaxValue;
        var answer = new JObject
        {
            ["dryRun"] = result.DryRun,
            ["tagsRemoved"] = result.Tags.Count,
            ["manifestsRemoved"] = result.Manifests.Count,
            ["bytesToFree"] = result.BytesToFree,
            ["bytesFreed"] = result.BytesFreed,
            ["durationMs"] = (long)result.Duration.TotalMilliseconds,
            ["maxRemovalsPerPass"] = result.MaxRemovalsPerPass,
            ["pending"] = result.Pending,
            ["passes"] = result.Passes,
            ["tags"] = new JArray(result.Tags.Take(take).Select(t => new JObject
            {
                ["repository"] = t.Repository, ["tag"] = t.Tag, ["digest"] = t.Digest, ["size"] = t.Size,
            })),
            ["manifests"] = new JArray(result.Manifests.Take(take).Select(m => new JObject
            {
                ["repository"] = m.Repository, ["digest"] = m.Digest, ["size"] = m.Size,
            })),
        };
        var omitted = Math.Max(0, result.Tags.Count - take) + Math.Max(0, result.Manifests.Count - take);
        if (omitted > 0)
        {
            answer["omitted"] = omitted;
        }

        return answer;
    }
}
