using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Sync;

/// <summary>
/// <c>syncNow</c>: starts a sync pass at once, inside or outside the schedule, and answers without waiting for it
/// (progress shows in the reported properties). 409 <c>NoParent</c> when no parent is configured.
/// </summary>
public sealed class SyncNowMethod(SyncScheduler scheduler, ISyncWork work, IRegistrySettingsSource settings, ModuleState state) : IDirectMethod
{
    public Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken)
    {
        if (payload is not null and not JObject)
        {
            throw new DirectMethodException(400, "BadPayload", "syncNow takes no payload or an empty object.");
        }

        if (!work.IsConfigured(settings.Current))
        {
            return Task.FromResult(DirectMethodResult.Error(409, "NoParent", "no parent registry is configured"));
        }

        scheduler.SyncNow();
        var snapshot = state.Snapshot();
        return Task.FromResult(DirectMethodResult.Ok(new JObject
        {
            ["started"] = true,
            ["connectionState"] = snapshot.ConnectionState,
            ["lastSyncTime"] = snapshot.Sync.LastSyncTime?.ToString("o"),
        }));
    }
}
