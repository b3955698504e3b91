using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Moq;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>Blob fetch over a Moq parent side and a real local side: resume with Range, verify, single-flight.</summary>
public sealed class BlobFetcherTests : IDisposable
{
    private const string Repository = "apps/web";
    private readonly LocalSide _local = new();

    public void Dispose() => _local.Dispose();

    [Fact]
    public async Task A_blob_that_breaks_midway_resumes_with_a_range_from_the_bytes_already_staged()
    {
        var (blob, bytes) = LocalSide.Blob("midway", 100_000);
        _local.Parent.Setup(p => p.GetBlobAsync(Repository, blob.Digest, 0, It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => LocalSide.Download(bytes, 0, new BreakingStream(bytes, 40_000)));
        _local.Parent.Setup(p => p.GetBlobAsync(Repository, blob.Digest, 40_000, It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => LocalSide.Download(bytes, 40_000));
        var meter = new SyncPassMeter(new ModuleState(), TimeSpan.Zero, TimeProvider.System);
        using var fetcher = _local.Fetcher(meter);

        await fetcher.EnsureAsync(_local.Parent.Object, Repository, blob, CancellationToken.None);

        _local.Parent.Verify(p => p.GetBlobAsync(Repository, blob.Digest, 0, It.IsAny<CancellationToken>()), Times.Once);
        _local.Parent.Verify(p => p.GetBlobAsync(Repository, blob.Digest, 40_000, It.IsAny<CancellationToken>()), Times.Once);
        Assert.True(_local.Store.IsBlobInRepository(Repository, blob.Digest));
        Assert.Equal(0, _local.Partials.GetLength(blob.Digest));
        Assert.Equal(100_000, meter.BytesDownloaded);
        Assert.Equal(1, meter.BlobsFetched);
    }

    [Fact]
    public async Task A_fetch_left_staged_by_an_earlier_pass_starts_with_a_range_at_its_end()
    {
        var (blob, bytes) = LocalSide.Blob("earlier", 50_000);
        await _local.Partials.AppendAsync(blob.Digest, 0, new MemoryStream(bytes[..30_000]));
        _local.Parent.Setup(p => p.GetBlobAsync(Repository, blob.Digest, 30_000, It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => LocalSide.Download(bytes, 30_000));
        using var fetcher = _local.Fetcher();

        await fetcher.EnsureAsync(_local.Parent.Object, Repository, blob, CancellationToken.None);

        _local.Parent.Verify(p => p.GetBlobAsync(Repository, blob.Digest, It.IsAny<long>(), It.IsAny<CancellationToken>()), Times.Once);
        Assert.True(_local.Store.IsBlobInRepository(Repository, blob.Digest));
    }

    [Fact]
    public async Task A_parent_that_ignores_the_range_sends_the_whole_blob_and_it_is_stored_once()
    {
        var (blob, bytes) = LocalSide.Blob("norange", 20_000);
        await _local.Partials.AppendAsync(blob.Digest, 0, new MemoryStream(bytes[..5_000]));
        _local.Parent.Setup(p => p.GetBlobAsync(Repository, blob.Digest, 5_000, It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => LocalSide.Download(bytes, 0)); // 200 with the whole body
        using var fetcher = _local.Fetcher();

        await fetcher.EnsureAsync(_local.Parent.Object, Repository, blob, CancellationToken.None);

        await using var stored = _local.Store.OpenBlob(blob.Digest);
        Assert.Equal(20_000, stored.Length);
        Assert.True(_local.Store.IsBlobInRepository(Repository, blob.Digest));
    }

    [Fact]
    public async Task Bytes_that_do_not_match_the_digest_are_dropped_and_fetched_again_from_zero()
    {
        var (blob, bytes) = LocalSide.Blob("corrupt", 10_000);
        var corrupt = (byte[])bytes.Clone();
        corrupt[5_000] ^= 0xFF;
        _local.Parent.SetupSequence(p => p.GetBlobAsync(Repository, blob.Digest, 0, It.IsAny<CancellationToken>()))
            .ReturnsAsync(LocalSide.Download(corrupt))
            .ReturnsAsync(LocalSide.Download(bytes));
        using var fetcher = _local.Fetcher();

        await fetcher.EnsureAsync(_local.Parent.Object, Repository, blob, CancellationToken.None);

        _local.Parent.Verify(p => p.GetBlobAsync(Repository, blob.Digest, 0, It.IsAny<CancellationToken>()), Times.Exactly(2));
        Assert.True(_local.Store.IsBlobInRepository(Repository, blob.Digest));
    }

    [Fact]
    public async Task A_blob_that_never_matches_fails_after_the_configured_attempts_and_keeps_nothing()
    {
        var (blob, bytes) = LocalSide.Blob("never", 1_000);
        var corrupt = (byte[])bytes.Clone();
        corrupt[0] ^= 0xFF;
        _local.Parent.Setup(p => p.GetBlobAsync(Repository, blob.Digest, 0, It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => LocalSide.Download(corrupt));
        using var fetcher = _local.Fetcher();

        await Assert.ThrowsAsync<ParentContentException>(() => fetcher.EnsureAsync(_local.Parent.Object, Repository, blob, CancellationToken.None));

        _local.Parent.Verify(p => p.GetBlobAsync(Repository, blob.Digest, 0, It.IsAny<CancellationToken>()), Times.Exactly(LocalSide.Options.BlobAttempts));
        Assert.False(_local.Store.BlobExists(blob.Digest));
        Assert.Equal(0, _local.Partials.GetLength(blob.Digest));
    }

    [Fact]
    public async Task A_read_that_times_out_is_a_drop_like_any_other_and_is_tried_again()
    {
        // HttpClient reports its timeout as a TaskCanceledException around a TimeoutException: the link, not the caller.
        var (blob, bytes) = LocalSide.Blob("timeout", 30_000);
        var calls = 0;
        _local.Parent.Setup(p => p.GetBlobAsync(Repository, blob.Digest, 0, It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => ++calls == 1
                ? throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout", new TimeoutException())
                : LocalSide.Download(bytes));
        using var fetcher = _local.Fetcher();

        await fetcher.EnsureAsync(_local.Parent.Object, Repository, blob, CancellationToken.None);

        Assert.Equal(2, calls);
        Assert.True(_local.Store.IsBlobInRepository(Repository, blob.Digest));
    }

    [Fact]
    public async Task Two_concurrent_fetches_of_one_digest_share_one_parent_read()
    {
        var (blob, bytes) = LocalSide.Blob("shared", 64_000);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _local.Parent.Setup(p => p.GetBlobAsync(It.IsAny<string>(), blob.Digest, 0, It.IsAny<CancellationToken>()))
            .Returns(async () =>
            {
                await release.Task;
                return LocalSide.Download(bytes);
            });
        using var fetcher = _local.Fetcher();

        var first = fetcher.EnsureAsync(_local.Parent.Object, Repository, blob, CancellationToken.None);
        var second = fetcher.EnsureAsync(_local.Parent.Object, "apps/other", blob, CancellationToken.None);
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);
        release.SetResult();
        await Task.WhenAll(first, second);

        _local.Parent.Verify(p => p.GetBlobAsync(It.IsAny<string>(), blob.Digest, It.IsAny<long>(), It.IsAny<CancellationToken>()), Times.Once);
        Assert.True(_local.Store.BlobExists(blob.Digest));
    }

    [Fact]
    public async Task A_blob_stored_already_is_not_asked_for()
    {
        var (blob, bytes) = LocalSide.Blob("stored", 2_000);
        await _local.Store.WriteBlobAsync("apps/first", blob.Digest, new MemoryStream(bytes));
        using var fetcher = _local.Fetcher();

        await fetcher.EnsureAsync(_local.Parent.Object, Repository, blob, CancellationToken.None);

        _local.Parent.VerifyNoOtherCalls(); // a strict mock: any parent call would have thrown
    }

    /// <summary>Serves the first <c>breakAt</c> bytes, then fails like a dropped connection.</summary>
    private sealed class BreakingStream(byte[] bytes, int breakAt) : MemoryStream(bytes[..breakAt])
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await base.ReadAsync(buffer, cancellationToken);
            return read > 0 ? read : throw new IOException("connection reset by peer");
        }
    }
}
