using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Core;

/// <summary>
/// What storage's retention pass and the sync engine tell each other (Sync/ answers from <c>sync.db</c>; neither depends
/// on the other): local pushes of a ReadWrite registry that have not reached the parent yet, which are never removed, and
/// the tags a pass removes, which sync down then does not copy again from the parent while they point where they did.
/// </summary>
public interface ISyncHolds
{
    /// <summary>The client pushes waiting in the outbox for delivery to the parent.</summary>
    PendingPushes PendingPushes();

    /// <summary>
    /// Tags a retention pass is about to remove, with their digests: sync down leaves each out until the parent's tag
    /// moves to another digest (or a client pulls it on demand), so what retention removed does not come back with the
    /// next pass. Called before the removal.
    /// </summary>
    void Retiring(IReadOnlyCollection<(string Repository, string Tag, Digest Digest)> tags);
}

/// <summary>Undelivered pushes: the tags pushed and the manifests pushed (by tag or by digest), per repository.</summary>
public sealed record PendingPushes(IReadOnlySet<(string Repository, string Tag)> Tags, IReadOnlySet<(string Repository, Digest Digest)> Manifests)
{
    public static PendingPushes None { get; } = new(new HashSet<(string, string)>(), new HashSet<(string, Digest)>());
}
