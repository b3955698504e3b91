namespace ConnectedRegistry.Core;

/// <summary>Removes blobs no manifest references (and untagged manifests where configured). Storage/ implements it.</summary>
public interface IGarbageCollector
{
    Task<GarbageCollectionResult> CollectAsync(CancellationToken cancellationToken);
}

public sealed record GarbageCollectionResult(int BlobsDeleted, long BytesFreed, int ManifestsDeleted, TimeSpan Duration);
