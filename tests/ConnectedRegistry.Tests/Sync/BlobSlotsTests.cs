using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using ConnectedRegistry.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Moq;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>
/// How many blobs a sync pass downloads at a time: 8 without a bandwidth cap, 4 under one, the number given by
/// <c>SYNC_PARALLEL_BLOBS</c> / <c>--sync-parallel-blobs</c> either way. Read from a real pass (a real local side, a
/// Moq parent holding every blob GET open) by counting the GETs open at once.
/// </summary>
public sealed class BlobSlotsTests : IDisposable
{
    private const string Repository = "apps/many";
    private const int Layers = 15;
    private readonly LocalSide _local = new();

    public void Dispose() => _local.Dispose();

    [Fact]
    public void Without_a_value_given_the_slots_follow_the_cap_and_a_value_given_holds_either_way()
    {
        var none = SyncOptions.FromConfiguration(Configuration());
        Assert.Null(none.ParallelBlobs);
        Assert.Equal(8, none.BlobSlots(capped: false));
        Assert.Equal(4, none.BlobSlots(capped: true));

        var blank = SyncOptions.FromConfiguration(Configuration(("SYNC_PARALLEL_BLOBS", " ")));
        Assert.Null(blank.ParallelBlobs);

        var variable = SyncOptions.FromConfiguration(Configuration(("SYNC_PARALLEL_BLOBS", "6")));
        Assert.Equal(6, variable.BlobSlots(capped: false));
        Assert.Equal(6, variable.BlobSlots(capped: true));

        var option = SyncOptions.FromConfiguration(Configuration(("sync-parallel-blobs", "2"), ("SYNC_PARALLEL_BLOBS", "6")));
        Assert.Equal(2, option.BlobSlots(capped: false)); // the command line wins over the environment
        Assert.Equal(2, option.BlobSlots(capped: true));

        Assert.Throws<StartupException>(() => SyncOptions.FromConfiguration(Configuration(("SYNC_PARALLEL_BLOBS", "0"))));
    }

    [Fact]
    public async Task A_pass_without_a_cap_downloads_8_blobs_at_a_time()
    {
        Assert.Equal(8, await MostOpenAtOnceAsync(LocalSide.Options with { ParallelBlobs = null }, capBitsPerSecond: null));
    }

    [Fact]
    public async Task A_pass_under_a_cap_downloads_4_blobs_at_a_time()
    {
        Assert.Equal(4, await MostOpenAtOnceAsync(LocalSide.Options with { ParallelBlobs = null }, capBitsPerSecond: 4_000_000));
    }

    [Fact]
    public async Task A_number_given_holds_with_a_cap_and_without()
    {
        Assert.Equal(6, await MostOpenAtOnceAsync(LocalSide.Options with { ParallelBlobs = 6 }, capBitsPerSecond: 4_000_000));
        Assert.Equal(3, await MostOpenAtOnceAsync(LocalSide.Options with { ParallelBlobs = 3 }, capBitsPerSecond: null));
    }

    [Fact]
    public void On_demand_fetch_keeps_4_slots_when_none_are_given()
    {
        using var fetcher = new BlobFetcher(_local.Destination, LocalSide.Options with { ParallelBlobs = null }, TimeProvider.System, NullLogger.Instance);
        Assert.Equal(4, fetcher.Slots);
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    /// <summary>
    /// Runs one pass of a repository whose one image has <see cref="Layers"/> layers, every blob GET held open until the
    /// open ones stop growing; returns the most that were open at once (the pass then completes with every blob stored).
    /// </summary>
    private async Task<int> MostOpenAtOnceAsync(SyncOptions options, double? capBitsPerSecond)
    {
        var tag = "v" + Guid.NewGuid().ToString("N")[..8]; // a new image each call: nothing stored yet
        var (config, configBytes) = LocalSide.Blob("config-" + tag, 300);
        var layers = Enumerable.Range(0, Layers).Select(i => LocalSide.Blob($"layer-{tag}-{i}", 4_000)).ToList();
        var manifest = LocalSide.Manifest(config, [.. layers.Select(l => l.Descriptor)]);
        var bytes = layers.Append((Descriptor: config, Bytes: configBytes)).ToDictionary(b => b.Descriptor.Digest, b => b.Bytes);

        var open = 0;
        var most = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var parent = new Mock<IParentRegistry>(MockBehavior.Strict);
        parent.Setup(p => p.ListTagsAsync(Repository, It.IsAny<CancellationToken>())).ReturnsAsync([tag]);
        parent.Setup(p => p.HeadManifestAsync(Repository, It.IsAny<string>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ManifestInfo(manifest.Digest, manifest.MediaType, manifest.Bytes.Length));
        parent.Setup(p => p.GetManifestAsync(Repository, It.IsAny<string>(), It.IsAny<CancellationToken>())).ReturnsAsync(manifest);
        parent.Setup(p => p.ReferrersAsync(Repository, It.IsAny<Digest>(), It.IsAny<CancellationToken>(), It.IsAny<bool>()))
            .ReturnsAsync((IReadOnlyList<Descriptor>?)null);
        parent.Setup(p => p.GetBlobAsync(Repository, It.IsAny<Digest>(), 0, It.IsAny<CancellationToken>()))
            .Returns(async (string _, Digest digest, long _, CancellationToken _) =>
            {
                var now = Interlocked.Increment(ref open);
                InterlockedMax(ref most, now);
                await gate.Task;
                Interlocked.Decrement(ref open);
                return LocalSide.Download(bytes[digest]);
            });

        var link = new LinkThrottle(TimeProvider.System);
        link.SetLimit(capBitsPerSecond);
        var module = new ModuleState();
        var tags = new TagSync(_local.Destination, new ManifestGraphSync(_local.Destination), _local.SyncState, new Mock<IPendingPushes>().Object, options, NullLogger.Instance);
        using var downloads = new BlobDownloads(_local.Destination, options, TimeProvider.System, NullLogger<BlobDownloads>.Instance);
        var down = new SyncDown(_local.Destination, tags, module, options, TimeProvider.System, NullLogger<SyncDown>.Instance, downloads, link: link);
        var settings = new RegistrySettings { Mode = RegistryMode.ReadOnly, Sync = new SyncSettings { Repositories = [Repository] } };

        var pass = down.RunAsync(parent.Object, settings, CancellationToken.None);
        // open GETs grow as the slots are taken; once the first is open and they stop growing for a while, every slot
        // is taken (a pass that has not reached its first GET yet, on a cold or busy machine, is not "stopped growing")
        var seen = -1;
        var steady = 0;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (steady < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            var now = Volatile.Read(ref open);
            steady = now > 0 && now == seen ? steady + 1 : 0;
            seen = now;
        }

        var atOnce = Volatile.Read(ref most);
        gate.SetResult();
        var result = await pass;

        Assert.Empty(result.Failures);
        Assert.Equal(Layers + 1, result.BlobsFetched);
        Assert.Equal(manifest.Digest, _local.Store.GetManifest(Repository, tag)!.Digest);
        return atOnce;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
