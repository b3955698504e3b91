namespace ConnectedRegistry.Sync;

/// <summary>Local pushes that wait for delivery to the parent (<see cref="SyncOutbox"/>): sync down leaves their tags alone.</summary>
public interface IPendingPushes
{
    /// <summary>True when a push of <paramref name="repository"/>:<paramref name="tag"/> waits for delivery.</summary>
    bool HasPendingTag(string repository, string tag);
}
