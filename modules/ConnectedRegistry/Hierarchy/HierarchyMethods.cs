using ConnectedRegistry.Core;
using ConnectedRegistry.Sync;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Hierarchy;

/// <summary><c>deactivate</c>: this registry stops syncing and releases its identity at the parent (no payload).</summary>
public sealed class DeactivateMethod(LocalActivation activation, SyncScheduler scheduler) : IDirectMethod
{
    public async Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken)
    {
        if (payload is not null and not JObject)
        {
            throw new DirectMethodException(400, "BadPayload", "deactivate takes no payload or an empty object.");
        }

        var result = await activation.DeactivateAsync(cancellationToken);
        scheduler.SyncNow(); // the scheduler notices at once (no pass runs; it reports Offline)
        return DirectMethodResult.Ok(result);
    }
}

/// <summary><c>activate</c>: lifts a deactivation; a sync pass claims the identity at the parent at once (no payload).</summary>
public sealed class ActivateMethod(LocalActivation activation, SyncScheduler scheduler) : IDirectMethod
{
    public Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken)
    {
        if (payload is not null and not JObject)
        {
            throw new DirectMethodException(400, "BadPayload", "activate takes no payload or an empty object.");
        }

        var result = activation.Reactivate();
        scheduler.SyncNow();
        return Task.FromResult(DirectMethodResult.Ok(result));
    }
}

/// <summary>
/// <c>deactivateChild</c> <c>{"name": "&lt;child registry&gt;"}</c>: frees a child's identity at this parent, for a device that
/// is gone; the next instance that claims it (a replacement device) is then accepted.
/// </summary>
public sealed class DeactivateChildMethod(ChildActivations activations, IRegistrySettingsSource settings) : IDirectMethod
{
    public Task<DirectMethodResult> InvokeAsync(JToken? payload, CancellationToken cancellationToken)
    {
        var name = (payload as JObject)?["name"];
        if (name is not { Type: JTokenType.String } || string.IsNullOrWhiteSpace((string?)name))
        {
            throw new DirectMethodException(400, "BadPayload", "deactivateChild takes {\"name\": \"<child registry name>\"}.");
        }

        var child = ((string)name!).Trim();
        var known = settings.Current.Children.ContainsKey(child);
        var record = activations.Get(child);
        if (!known && record is null)
        {
            return Task.FromResult(DirectMethodResult.Error(404, "ChildNotFound", $"'{child}' is not a child registry of this registry."));
        }

        var wasActive = activations.DeactivateChild(child);
        return Task.FromResult(DirectMethodResult.Ok(new JObject
        {
            ["name"] = child,
            ["activationState"] = ActivationStates.Inactive,
            ["wasActive"] = wasActive,
            ["previousDeviceId"] = record?.DeviceId,
        }));
    }
}
