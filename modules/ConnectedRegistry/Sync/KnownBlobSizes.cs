using System.Collections.Concurrent;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The sizes the manifests fetched on demand give their blobs, per repository: a client pulls a manifest, then its
/// blobs, and the length the parent declares for such a blob is checked against its descriptor before the client gets
/// a header (<see cref="OnDemandFetch"/>). The manifest's bytes matched their digest, so its sizes are the content's
/// own, where the blob's answer is only the parent's word. Bounded: the oldest entries go first.
/// </summary>
internal sealed class KnownBlobSizes(int capacity = KnownBlobSizes.DefaultCapacity)
{
    public const int DefaultCapacity = 10_000;

    private readonly ConcurrentDictionary<(string Repository, Digest Digest), long> _sizes = new();
    private readonly ConcurrentQueue<(string Repository, Digest Digest)> _order = new();

    /// <summary>Remembers the config's and the layers' sizes of <paramref name="manifest"/> (an index names no blob).</summary>
    public void Remember(string repository, ParsedManifest manifest)
    {
        foreach (var blob in manifest.Config is null ? manifest.Layers : manifest.Layers.Prepend(manifest.Config))
        {
            if (_sizes.TryAdd((repository, blob.Digest), blob.Size))
            {
                _order.Enqueue((repository, blob.Digest));
            }
        }

        while (_sizes.Count > capacity && _order.TryDequeue(out var oldest))
        {
            _sizes.TryRemove(oldest, out _);
        }
    }

    /// <summary>The size a manifest fetched on demand for <paramref name="repository"/> gave the blob, or null.</summary>
    public long? SizeOf(string repository, Digest digest) => _sizes.TryGetValue((repository, digest), out var size) ? size : null;
}
