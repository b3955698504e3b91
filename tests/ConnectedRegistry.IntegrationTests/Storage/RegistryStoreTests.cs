using ConnectedRegistry.Distribution;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>The storage facade the sync engine calls directly.</summary>
public sealed class RegistryStoreTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>
{
    private readonly RegistryStore _store = fixture.Registry.App.Services.GetRequiredService<RegistryStore>();
    private readonly PartialBlobStore _partials = fixture.Registry.App.Services.GetRequiredService<PartialBlobStore>();

    [Fact]
    public async Task Write_blob_verifies_the_digest_and_keeps_nothing_on_mismatch()
    {
        var blob = new TestBlob(TestContent.Bytes("facade-blob", 1000), "x");
        var wrong = new TestBlob(TestContent.Bytes("facade-other", 1000), "x").Digest;

        var error = await Assert.ThrowsAsync<DigestMismatchException>(() => _store.WriteBlobAsync("facade/blob", wrong, new MemoryStream(blob.Bytes)));
        Assert.Equal(OciErrorCode.DigestInvalid, StorageErrors.ToOci(error).Error);
        Assert.False(_store.BlobExists(wrong));
        Assert.Empty(Directory.GetFiles(Path.Combine(fixture.Registry.DataRoot, "staging")));

        var info = await _store.WriteBlobAsync("facade/blob", blob.Digest, new MemoryStream(blob.Bytes));
        Assert.Equal(1000, info.Size);
        Assert.True(_store.IsBlobInRepository("facade/blob", blob.Digest));
        Assert.Equal(1000, _store.GetBlobSize(blob.Digest));
        await using var read = _store.OpenBlob(blob.Digest);
        using var copy = new MemoryStream();
        await read.CopyToAsync(copy);
        Assert.Equal(blob.Bytes, copy.ToArray());
    }

    [Fact]
    public async Task Interrupted_blob_resumes_from_its_partial_length()
    {
        var blob = new TestBlob(TestContent.Bytes("resumable", 100_000), "x");
        Assert.Equal(0, _partials.GetLength(blob.Digest));

        // The first transfer dies after 40 000 bytes.
        await Assert.ThrowsAsync<IOException>(() => WriteResumableAsync("facade/resume", blob.Digest, 0, new FailingStream(blob.Bytes, 40_000)));
        Assert.Equal(40_000, _partials.GetLength(blob.Digest));
        Assert.False(_store.BlobExists(blob.Digest));

        var offset = _partials.GetLength(blob.Digest);
        var info = await WriteResumableAsync("facade/resume", blob.Digest, offset, new MemoryStream(blob.Bytes[(int)offset..]));

        Assert.Equal(blob.Digest, info.Digest);
        Assert.Equal(100_000, info.Size);
        Assert.True(_store.IsBlobInRepository("facade/resume", blob.Digest));
        Assert.Equal(0, _partials.GetLength(blob.Digest));
    }

    [Fact]
    public async Task Corrupt_partial_is_discarded_with_digest_invalid()
    {
        var blob = new TestBlob(TestContent.Bytes("corrupt", 5000), "x");
        await _partials.AppendAsync(blob.Digest, 0, new MemoryStream(new byte[5000]));

        var error = await Assert.ThrowsAsync<DigestMismatchException>(() => _partials.CommitAsync("facade/corrupt", blob.Digest));

        Assert.Equal(OciErrorCode.DigestInvalid, StorageErrors.ToOci(error).Error);
        Assert.Equal(0, _partials.GetLength(blob.Digest));
        Assert.False(_store.BlobExists(blob.Digest));
    }

    [Fact]
    public async Task A_blob_being_fetched_opens_as_its_partial_file_and_once_stored_as_the_blob()
    {
        var blob = new TestBlob(TestContent.Bytes("open-fetched", 3000), "x");
        Assert.Null(_partials.OpenFetched(blob.Digest)); // nothing staged yet

        await _partials.AppendAsync(blob.Digest, 0, new MemoryStream(blob.Bytes[..1000]));
        using (var staged = _partials.OpenFetched(blob.Digest)!)
        {
            Assert.Equal(1000, RandomAccess.GetLength(staged));
        }

        await _partials.AppendAsync(blob.Digest, 1000, new MemoryStream(blob.Bytes[1000..]));
        using var reader = _partials.OpenFetched(blob.Digest)!;
        await _partials.CommitAsync("facade/open-fetched", blob.Digest);

        // A reader that opened the partial file reads on through the rename; one that comes after gets the blob.
        var before = new byte[3000];
        Assert.Equal(3000, RandomAccess.Read(reader, before, 0));
        Assert.Equal(blob.Bytes, before);
        using var stored = _partials.OpenFetched(blob.Digest)!;
        var after = new byte[3000];
        Assert.Equal(3000, RandomAccess.Read(stored, after, 0));
        Assert.Equal(blob.Bytes, after);
    }

    [Fact]
    public async Task Partial_rewritten_from_an_earlier_offset_commits_with_the_hash_of_its_new_bytes()
    {
        // The running hash of the first 5000 (wrong) bytes must not survive the truncation to 1000.
        var blob = new TestBlob(TestContent.Bytes("rewritten", 5000), "x");
        await _partials.AppendAsync(blob.Digest, 0, new MemoryStream(new byte[5000]));
        await _partials.AppendAsync(blob.Digest, 1000, new MemoryStream(new byte[1000]));
        Assert.Equal(2000, _partials.GetLength(blob.Digest));

        await _partials.AppendAsync(blob.Digest, 0, new MemoryStream(blob.Bytes));
        var info = await _partials.CommitAsync("facade/rewritten", blob.Digest);

        Assert.Equal(blob.Digest, info.Digest);
        Assert.True(_store.IsBlobInRepository("facade/rewritten", blob.Digest));
        Assert.Equal(0, _partials.GetLength(blob.Digest));
    }

    [Fact]
    public async Task Put_manifest_checks_references_sets_tags_and_lists_them()
    {
        var image = TestContent.Image("facade-manifest");
        var missing = await Assert.ThrowsAsync<ManifestReferencesMissingException>(() => _store.PutManifestAsync("facade/manifest", image.Manifest.Bytes, image.Manifest.MediaType, "v1"));
        Assert.Equal(OciErrorCode.ManifestBlobUnknown, StorageErrors.ToOci(missing).Error);
        Assert.Equal(image.Blobs.Select(b => b.Digest.ToString()).Order(StringComparer.Ordinal), missing.Missing.Order(StringComparer.Ordinal));

        // Sync may fetch blobs into another repository first: a blob stored anywhere satisfies a facade put.
        foreach (var blob in image.Blobs)
        {
            await _store.WriteBlobAsync("facade/staging-area", blob.Digest, new MemoryStream(blob.Bytes));
        }

        var result = await _store.PutManifestAsync("facade/manifest", image.Manifest.Bytes, image.Manifest.MediaType, "v1", image.Manifest.Digest);
        Assert.Equal(image.Manifest.Digest, result.Digest);
        Assert.True(result.Created);
        Assert.True(_store.IsBlobInRepository("facade/manifest", image.Layers[0].Digest));

        await _store.SetTagAsync("facade/manifest", "stable", image.Manifest.Digest);
        Assert.Equal([new TagEntry("stable", image.Manifest.Digest), new TagEntry("v1", image.Manifest.Digest)], _store.ListTags("facade/manifest"));
        Assert.Equal(image.Manifest.Bytes, _store.GetManifest("facade/manifest", "stable")!.Content);
        Assert.Equal(image.Manifest.Bytes, _store.GetManifest("facade/manifest", image.Manifest.Digest.ToString())!.Content);
        Assert.Contains("facade/manifest", _store.ListRepositories());

        Assert.True(await _store.DeleteTagAsync("facade/manifest", "stable"));
        Assert.False(await _store.DeleteTagAsync("facade/manifest", "stable"));
        Assert.Null(_store.GetManifest("facade/manifest", "stable"));
    }

    [Fact]
    public async Task Set_tag_requires_the_manifest_in_that_repository()
    {
        var error = await Assert.ThrowsAsync<ManifestNotHeldException>(() => _store.SetTagAsync("facade/tagless", "v1", TestContent.Image("nothing").Manifest.Digest));
        Assert.Equal(OciErrorCode.ManifestUnknown, StorageErrors.ToOci(error).Error);
    }

    [Fact]
    public async Task Referrers_are_listed_with_artifact_type_from_config_when_not_set()
    {
        var image = TestContent.Image("facade-subject");
        await fixture.Client.PushImageAsync("facade/referrers", "app", image);
        var plain = TestContent.Image("facade-plain-referrer", subject: image.Manifest.Descriptor());
        await fixture.Client.PushImageAsync("facade/referrers", plain.Manifest.Digest.ToString(), plain);

        var referrer = Assert.Single(_store.ListReferrers("facade/referrers", image.Manifest.Digest));
        Assert.Equal(plain.Manifest.Digest, referrer.Digest);
        Assert.Equal(MediaTypes.OciConfig, referrer.ArtifactType);
        Assert.Empty(_store.ListReferrers("facade/referrers", image.Manifest.Digest, "application/other"));
    }

    [Fact]
    public async Task Invalid_repository_names_never_reach_storage()
    {
        var error = await Assert.ThrowsAsync<InvalidRepositoryNameException>(() => _store.WriteBlobAsync("../escape", Digest.Compute([]), new MemoryStream()));
        Assert.Equal(OciErrorCode.NameInvalid, StorageErrors.ToOci(error).Error);
    }

    private async Task<BlobInfo> WriteResumableAsync(string repository, Digest digest, long offset, Stream content)
    {
        await _partials.AppendAsync(digest, offset, content);
        return await _partials.CommitAsync(repository, digest);
    }
}
