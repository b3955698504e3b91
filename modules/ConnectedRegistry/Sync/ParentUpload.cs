namespace ConnectedRegistry.Sync;

/// <summary>
/// An upload session at the parent: its <c>Location</c> (absolute; the parent may change it after every request, as
/// CNCF distribution does with its <c>_state</c>), the bytes it holds, and the smallest chunk it takes
/// (<c>OCI-Chunk-Min-Length</c>, 0 when it said nothing).
/// </summary>
public sealed record ParentUpload(Uri Location, long Offset, long ChunkMinLength = 0);
