using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Answers storage's retention pass from <c>sync.db</c> (<see cref="ISyncHolds"/>): the outbox's undelivered pushes
/// (<see cref="SyncOutbox"/>), and the tags a pass removes, marked in <see cref="SyncStateStore"/> for sync down.
/// </summary>
public sealed class SyncHolds(SyncOutbox outbox, SyncStateStore syncState) : ISyncHolds
{
    public PendingPushes PendingPushes()
    {
        var tags = new HashSet<(string, string)>();
        var manifests = new HashSet<(string, Digest)>();
        foreach (var item in outbox.Pending(int.MaxValue).Where(i => i.Kind == OutboxKind.PushManifest))
        {
            if (item.Tag is { } tag)
            {
                tags.Add((item.Repository, tag));
            }

            if (item.Digest is { } digest)
            {
                manifests.Add((item.Repository, digest));
            }
        }

        return new PendingPushes(tags, manifests);
    }

    public void Retiring(IReadOnlyCollection<(string Repository, string Tag, Digest Digest)> tags) => syncState.Retire(tags);
}
