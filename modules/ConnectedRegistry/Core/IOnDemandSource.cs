using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Core;

/// <summary>
/// On-demand pull-through: content a client asks for that is not here, fetched from the parent when the repository
/// is in the sync set and twin <c>sync.onDemand</c> is on. The Distribution API asks it on a miss, after auth;
/// implemented by Sync's <c>OnDemandFetch</c>. Every method answers null (the client gets the normal 404) when the
/// content cannot be had from the parent within a few seconds: outside the sync set, on-demand off, no parent,
/// parent unreachable or without it.
/// </summary>
public interface IOnDemandSource
{
    /// <summary>A manifest by tag or digest from the parent, exact bytes verified against its digest.</summary>
    Task<OnDemandManifest?> FetchManifestAsync(string repository, Reference reference, CancellationToken cancellationToken);

    /// <summary>
    /// Starts (or joins) the one fetch of a blob into the storage's partial file; its bytes land there as they arrive
    /// (<see cref="OnDemandBlob.Arrival"/> tells how many). <see cref="OnDemandBlob.Completion"/> ends when the blob is
    /// verified and stored, or faults (nothing stored).
    /// </summary>
    Task<OnDemandBlob?> FetchBlobAsync(string repository, Digest digest, CancellationToken cancellationToken);
}

/// <summary>A manifest fetched on demand: served at once; stored (with its tag) once its content is whole.</summary>
public sealed record OnDemandManifest(byte[] Content, string MediaType, Digest Digest);

/// <summary>
/// A blob being fetched on demand: its size (from the parent), its bytes as they land in the partial file
/// (<see cref="Arrival"/>: signalled per chunk, verified before the last bytes may go out) and the fetch's end
/// (<see cref="Completion"/>: stored and linked to the repository).
/// </summary>
public sealed record OnDemandBlob(long Size, Task Completion, BlobArrival Arrival);
