using System.Text;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;

namespace ConnectedRegistry.Tests.Infrastructure;

/// <summary>
/// A real local side of sync (storage and sync state on a temporary folder) under a Moq parent side, for the unit
/// tests of tag sync and blob fetch: the parent is the test double, the bytes really land on disk.
/// </summary>
internal sealed class LocalSide : IDisposable
{
    private readonly MetadataDatabase _db;

    public LocalSide()
    {
        Root = Path.Combine(Path.GetTempPath(), "cr-unit-" + Guid.NewGuid().ToString("N"));
        var layout = new DataLayout(Root);
        layout.EnsureCreated();
        _db = new MetadataDatabase(layout);
        var blobs = new BlobStore(layout);
        var links = new RepositoryBlobs(_db, blobs, TimeProvider.System);
        Store = new RegistryStore(layout, _db, blobs, links, TimeProvider.System);
        Partials = new PartialBlobStore(layout, blobs, links);
        Destination = new RegistryDestination(Store, Partials);
        SyncState = new SyncStateStore(layout);
    }

    public string Root { get; }

    public RegistryStore Store { get; }

    public PartialBlobStore Partials { get; }

    public RegistryDestination Destination { get; }

    public SyncStateStore SyncState { get; }

    public Mock<IParentRegistry> Parent { get; } = new(MockBehavior.Strict);

    public static SyncOptions Options { get; } = new() { BlobRetryPause = TimeSpan.Zero, ParallelBlobs = 4, ParallelTags = 4 };

    public BlobFetcher Fetcher(SyncPassMeter? meter = null) => new(Destination, Options, TimeProvider.System, NullLogger.Instance, meter);

    public SyncPass Pass(RegistryMode mode = RegistryMode.ReadWrite) =>
        new(Parent.Object, Fetcher(), new SyncPassMeter(new ModuleState(), Options.ProgressInterval, TimeProvider.System), mode, CancellationToken.None);

    /// <summary>A parent answer for a blob GET: <paramref name="bytes"/> from <paramref name="offset"/> on.</summary>
    public static BlobDownload Download(byte[] bytes, long offset = 0, Stream? content = null) =>
        new(null, content ?? new MemoryStream(bytes[(int)offset..]), offset, bytes.Length);

    public static (Descriptor Descriptor, byte[] Bytes) Blob(string seed, int size)
    {
        var bytes = new byte[size];
        new Random(seed.Aggregate(17, (hash, c) => unchecked((hash * 31) + c))).NextBytes(bytes);
        return (new Descriptor("application/octet-stream", Digest.Compute(bytes), size), bytes);
    }

    /// <summary>An OCI image manifest of one config and the given layers.</summary>
    public static ManifestContent Manifest(Descriptor config, params Descriptor[] layers)
    {
        static string Json(Descriptor d, string mediaType) => $$"""{"mediaType":"{{mediaType}}","digest":"{{d.Digest}}","size":{{d.Size}}}""";
        var text = $$"""{"schemaVersion":2,"mediaType":"{{MediaTypes.OciManifest}}","config":{{Json(config, "application/vnd.oci.image.config.v1+json")}},"layers":[{{string.Join(",", layers.Select(l => Json(l, "application/vnd.oci.image.layer.v1.tar")))}}]}""";
        var bytes = Encoding.UTF8.GetBytes(text);
        return new ManifestContent(bytes, MediaTypes.OciManifest, Digest.Compute(bytes));
    }

    public void Dispose()
    {
        _db.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
