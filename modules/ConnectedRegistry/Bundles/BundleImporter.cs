using System.Formats.Tar;
using System.Security.Cryptography;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using ConnectedRegistry.Sync;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Bundles;

/// <summary>What an import did.</summary>
public sealed record BundleImportResult(
    string Registry,
    DateTimeOffset Created,
    string KeyId,
    IReadOnlyList<string> Repositories,
    IReadOnlyList<string> Skipped,
    int TagsSet,
    int TagsUnchanged,
    int TagsLeftAlone,
    int BlobsStored,
    long BytesStored,
    IReadOnlyList<string> Failures)
{
    /// <summary>Tags of the bundle the sync set's tag filters (<c>sync.filters</c>) leave out.</summary>
    public int TagsFilteredOut { get; init; }

    public bool NothingNew => TagsSet == 0 && BlobsStored == 0;

    public string Describe() =>
        (NothingNew ? "nothing new (imported before): " : string.Empty) +
        $"bundle of {Created:o} signed by {KeyId}: {Repositories.Count} repositories, {TagsSet} tags set, {TagsUnchanged} unchanged, " +
        $"{TagsLeftAlone} left alone for a pending local push, {BlobsStored} blobs ({BytesStored} bytes) stored" +
        (TagsFilteredOut > 0 ? $"; {TagsFilteredOut} tags left out by the sync set's filters" : string.Empty) +
        (Skipped.Count > 0 ? $"; outside the sync set, not imported: {string.Join(", ", Skipped)}" : string.Empty) +
        (Failures.Count > 0 ? $"; failed: {string.Join("; ", Failures)}" : string.Empty);
}

/// <summary>
/// <c>bundle import</c> and the <c>importBundle</c> direct method. One read of the tar verifies everything before
/// anything changes: the signature of the descriptor against <c>bundles.trustedKeys</c>, that the bundle is for this
/// registry's name, that <c>index.json</c> is the one the descriptor implies, and every manifest and blob against its
/// digest and size while the blobs this registry lacks (of repositories in its sync set only) are staged in
/// <c>partial/</c>, where no client sees them. A refusal drops what was staged and changes nothing. Then the staged
/// blobs are committed and the tags set through <see cref="TagSync.StoreTagAsync"/>, exactly as sync down sets them
/// (a tag only once its content is whole, recorded as synced, told to the change log for children); a tag with a
/// pending local push is left alone. Progress goes into the reported <c>sync</c>, the outcome into the status detail
/// <c>BundleImport</c>. One import at a time.
/// </summary>
public sealed partial class BundleImporter(
    ISyncDestination local,
    TagSync tags,
    IPendingPushes pending,
    IRegistrySettingsSource settings,
    ModuleState state,
    SyncOptions options,
    TimeProvider time,
    ILogger<BundleImporter> logger)
{
    [StatusDetailCode]
    public const string StatusCode = "BundleImport";
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>True while an import runs.</summary>
    public bool IsRunning => _gate.CurrentCount == 0;

    public Task<BundleImportResult> ImportAsync(string path, CancellationToken cancellationToken) =>
        ImportAsync(path, OpenFile, cancellationToken);

    /// <summary>Imports the bundle <paramref name="open"/> reads for <paramref name="path"/> (tests count what it reads).</summary>
    internal async Task<BundleImportResult> ImportAsync(string path, Func<string, Stream> open, CancellationToken cancellationToken)
    {
        if (!await _gate.WaitAsync(0, cancellationToken))
        {
            throw new BundleRefusedException("another bundle import is running");
        }

        // The gate is released before the outcome is published: whoever sees the status detail may import the next
        // bundle at once (a refusal's detail came first, and the next importBundle was refused as "running").
        var meter = new SyncPassMeter(state, options.ProgressInterval, time);
        var released = false;
        void Release()
        {
            if (!released)
            {
                released = true;
                _gate.Release();
            }
        }

        try
        {
            BundleImportResult result;
            try
            {
                result = await ImportCoreAsync(path, open, settings.Current, meter, cancellationToken);
            }
            catch (LocalStorageException ex)
            {
                throw new BundleRefusedException($"the data volume refused a write ({ex.Message}); what was staged is dropped", ex);
            }

            meter.Report(result.Failures.Count == 0 ? "Completed" : "CompletedWithErrors", force: true);
            Log.Imported(logger, Path.GetFileName(path), result.Describe());
            Release();
            state.SetStatusDetail(new StatusDetail(StatusCode, result.Failures.Count == 0 ? "Information" : "Warning", "imported " + result.Describe(), time.GetUtcNow()));
            return result;
        }
        catch (BundleRefusedException ex)
        {
            meter.Report("Failed", force: true);
            Log.Refused(logger, Path.GetFileName(path), ex.Message);
            Release();
            state.SetStatusDetail(new StatusDetail(StatusCode, "Error", $"bundle {Path.GetFileName(path)} refused, nothing changed: {ex.Message}", time.GetUtcNow()));
            throw;
        }
        finally
        {
            Release();
        }
    }

    private async Task<BundleImportResult> ImportCoreAsync(string path, Func<string, Stream> open, RegistrySettings current, SyncPassMeter meter, CancellationToken cancellationToken)
    {
        var verified = await VerifyAndStageAsync(path, open, current, meter, cancellationToken);
        var (descriptor, wanted, manifests, staged) = verified;

        // Everything is verified: from here on the bundle's content becomes this registry's.
        var (blobsStored, bytesStored) = await CommitStagedAsync(descriptor, staged, meter, cancellationToken);
        var tagged = await SetTagsAsync(wanted, manifests, current, meter, cancellationToken);

        meter.TagsChanged(tagged.Set, 0);
        var skipped = descriptor.Repositories.Select(r => r.Name).Except(wanted.Select(r => r.Name), StringComparer.Ordinal).ToList();
        return new BundleImportResult(descriptor.Registry, descriptor.Created, descriptor.KeyId, [.. wanted.Select(r => r.Name)], skipped,
            tagged.Set, tagged.Unchanged, tagged.LeftAlone, blobsStored, bytesStored, tagged.Failures) { TagsFilteredOut = tagged.FilteredOut };
    }

    /// <summary>Commits the verified, staged blobs: they become visible to clients only now.</summary>
    private async Task<(int Blobs, long Bytes)> CommitStagedAsync(BundleDescriptor descriptor, List<(Digest Digest, string Repository)> staged, SyncPassMeter meter, CancellationToken cancellationToken)
    {
        var blobsStored = 0;
        long bytesStored = 0;
        var sizes = descriptor.Objects.ToDictionary(o => o.Digest, o => o.Size);
        foreach (var (digest, repository) in staged)
        {
            await local.CommitBlobAsync(repository, digest, verified: null, cancellationToken);
            blobsStored++;
            bytesStored += sizes[digest];
            meter.BlobFetched();
        }

        return (blobsStored, bytesStored);
    }

    /// <summary>What setting the bundle's tags did.</summary>
    private sealed class TagOutcome
    {
        public int Set { get; set; }

        public int Unchanged { get; set; }

        public int LeftAlone { get; set; }

        public int FilteredOut { get; set; }

        public List<string> Failures { get; } = [];
    }

    /// <summary>Sets the tags of the repositories taken, by sync down's rules (filters, a pending local push wins).</summary>
    private async Task<TagOutcome> SetTagsAsync(List<BundleRepository> wanted, Dictionary<Digest, ManifestContent> manifests, RegistrySettings current, SyncPassMeter meter, CancellationToken cancellationToken)
    {
        var outcome = new TagOutcome();
        var syncSet = SyncSet.Of(current);
        using var blobs = new BlobFetcher(local, options with { BlobAttempts = 1 }, time, logger, meter);
        var pass = new SyncPass(new BundleSource(manifests, wanted), blobs, meter, current.Mode, cancellationToken);
        foreach (var repository in wanted)
        {
            var localTags = local.Tags(repository.Name);
            foreach (var (tag, digest) in repository.Tags.OrderBy(t => t.Key, StringComparer.Ordinal))
            {
                var selection = syncSet.SelectTag(repository.Name, tag); // the tag and platform filters, as sync down applies them
                if (!selection.IsSelected)
                {
                    outcome.FilteredOut++;
                }
                else if (pending.HasPendingTag(repository.Name, tag))
                {
                    outcome.LeftAlone++; // sync's conflict rule: a local push of this tag wins until it reached the parent
                }
                else if (localTags.TryGetValue(tag, out var at) && at == digest)
                {
                    outcome.Unchanged++;
                }
                else
                {
                    await SetTagAsync(pass, repository.Name, tag, manifests[digest], selection.Platforms, outcome);
                }
            }

            meter.RepositoryDone();
        }

        return outcome;
    }

    private async Task SetTagAsync(SyncPass pass, string repository, string tag, ManifestContent manifest, PlatformFilter platforms, TagOutcome outcome)
    {
        try
        {
            await tags.StoreTagAsync(pass, repository, tag, manifest, platforms);
            outcome.Set++;
        }
        catch (Exception ex) when (ex is ParentContentException or OciException or StorageException)
        {
            outcome.Failures.Add($"{repository}:{tag}: {ex.Message}");
        }
    }

    private sealed record Verified(BundleDescriptor Descriptor, List<BundleRepository> Wanted, Dictionary<Digest, ManifestContent> Manifests, List<(Digest Digest, string Repository)> Staged);

    /// <summary>What one read of the tar has found so far: the header's entries, the plan they make, the objects seen.</summary>
    private sealed class Walk
    {
        /// <summary>The header entries read; index.json as its SHA-256 (<see cref="ReadHeaderEntryAsync"/>).</summary>
        public Dictionary<string, byte[]> Header { get; } = new(StringComparer.Ordinal);

        /// <summary>Made from the header when the first object comes (or at the end of an empty bundle).</summary>
        public Plan? Plan { get; set; }

        public HashSet<Digest> Seen { get; } = [];

        public Dictionary<Digest, ManifestContent> Manifests { get; } = [];

        /// <summary>Blobs staged in partial/, dropped again when the bundle is refused.</summary>
        public List<(Digest Digest, string Repository)> Staged { get; } = [];
    }

    /// <summary>Reads the whole tar once: verifies the header, then every object; stages the blobs to import. Throws (having dropped what it staged) on any flaw.</summary>
    private async Task<Verified> VerifyAndStageAsync(string path, Func<string, Stream> open, RegistrySettings current, SyncPassMeter meter, CancellationToken cancellationToken)
    {
        var walk = new Walk();
        try
        {
            await using var guard = new TarHeaderGuard(OpenBundle(path, open));
            await using var reader = new TarReader(guard);
            while (await NextEntryAsync(reader, guard, cancellationToken) is { } entry)
            {
                await ReadEntryAsync(entry, walk, current, meter, cancellationToken);
            }

            var plan = walk.Plan ??= Verify(walk.Header, current, meter);
            var missing = plan.Descriptor.Objects.Where(o => !walk.Seen.Contains(o.Digest)).ToList();
            if (missing.Count > 0)
            {
                throw new BundleRefusedException($"the bundle is torn: {missing.Count} of its {plan.Descriptor.Objects.Count} objects are missing (first: {missing[0].Digest})");
            }

            return new Verified(plan.Descriptor, plan.Wanted, walk.Manifests, walk.Staged);
        }
        catch
        {
            foreach (var (digest, _) in walk.Staged)
            {
                local.DiscardStaged(digest);
            }

            throw;
        }
    }

    private static Stream OpenBundle(string path, Func<string, Stream> open)
    {
        try
        {
            return open(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new BundleRefusedException($"the bundle cannot be opened: {ex.Message}");
        }
    }

    /// <summary>One entry of the tar: a header entry is kept, an object checked against the plan and read.</summary>
    private async Task ReadEntryAsync(TarEntry entry, Walk walk, RegistrySettings current, SyncPassMeter meter, CancellationToken cancellationToken)
    {
        if (entry.EntryType == TarEntryType.Directory)
        {
            return;
        }

        if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
        {
            throw new BundleRefusedException($"entry {Shown(entry.Name)} is a {entry.EntryType}, not a file");
        }

        if (BundleFormat.HeaderEntries.Contains(entry.Name))
        {
            if (walk.Plan is not null || walk.Header.ContainsKey(entry.Name))
            {
                throw new BundleRefusedException($"{entry.Name} appears after the bundle's blobs or twice");
            }

            walk.Header[entry.Name] = await ReadHeaderEntryAsync(entry, cancellationToken);
            return;
        }

        if (!BundleFormat.TryParseBlobEntry(entry.Name, out var digest))
        {
            throw new BundleRefusedException($"entry {Shown(entry.Name)} is not part of a bundle");
        }

        walk.Plan ??= Verify(walk.Header, current, meter);
        var item = CheckObject(entry, digest, walk);
        await ReadObjectAsync(entry, digest, item, walk, meter, cancellationToken);
    }

    /// <summary>The refusal rules of one object entry: listed in the signed descriptor, once, at the size it says.</summary>
    private static BundleObject CheckObject(TarEntry entry, Digest digest, Walk walk)
    {
        if (!walk.Plan!.Objects.TryGetValue(digest, out var item))
        {
            throw new BundleRefusedException($"{entry.Name} is not listed in the signed descriptor");
        }

        if (!walk.Seen.Add(digest))
        {
            throw new BundleRefusedException($"{entry.Name} appears twice");
        }

        if (entry.Length != item.Size)
        {
            throw new BundleRefusedException($"{entry.Name} holds {entry.Length} bytes; the signed descriptor says {item.Size}");
        }

        return item;
    }

    /// <summary>
    /// Reads one object through its digest check: a manifest of a repository taken is kept, a blob this registry
    /// lacks is staged, anything else is hashed all the same (a tampered file is refused whole).
    /// </summary>
    private async Task ReadObjectAsync(TarEntry entry, Digest digest, BundleObject item, Walk walk, SyncPassMeter meter, CancellationToken cancellationToken)
    {
        var needed = walk.Plan!.RepositoryOf.TryGetValue(digest, out var repository);
        var stage = needed && !item.IsManifest && !local.HasBlob(digest);
        await using var content = new DigestCheckingStream(entry.DataStream ?? Stream.Null, digest, item.Size, item.IsManifest ? "manifest" : "blob",
            stage ? n => meter.BytesDownloadedNow(n) : null);
        if (item.IsManifest)
        {
            using var memory = new MemoryStream();
            await content.CopyToAsync(memory, cancellationToken);
            if (needed)
            {
                walk.Manifests[digest] = new ManifestContent(memory.ToArray(), item.MediaType!, digest);
            }
        }
        else if (stage)
        {
            local.DiscardStaged(digest);
            walk.Staged.Add((digest, repository!));
            await local.StageBlobAsync(digest, 0, content, progress: null, cancellationToken);
        }
        else
        {
            await content.CopyToAsync(Stream.Null, cancellationToken); // verified all the same: a tampered file is refused whole
        }
    }

    private static FileStream OpenFile(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);

    private sealed record Plan(BundleDescriptor Descriptor, List<BundleRepository> Wanted, Dictionary<Digest, BundleObject> Objects, Dictionary<Digest, string> RepositoryOf);

    /// <summary>
    /// The header's checks, before any object is read: the signature (over bytes each bounded before they were read),
    /// then the descriptor it covers, the layout, the registry name, the index; and what of it this registry takes.
    /// </summary>
    private Plan Verify(Dictionary<string, byte[]> header, RegistrySettings current, SyncPassMeter meter)
    {
        var descriptor = VerifyHeader(header, current);
        var objects = new Dictionary<Digest, BundleObject>();
        foreach (var item in descriptor.Objects)
        {
            if (!objects.TryAdd(item.Digest, item))
            {
                throw new BundleRefusedException($"the descriptor lists {item.Digest} twice");
            }
        }

        var (wanted, repositoryOf) = Take(descriptor, objects, current);
        meter.RepositoriesTotal = wanted.Count;
        foreach (var digest in repositoryOf.Keys.Where(d => !objects[d].IsManifest && !local.HasBlob(d)))
        {
            meter.BlobPlanned(objects[digest].Size);
        }

        meter.Report("Running", force: true);
        return new Plan(descriptor, wanted, objects, repositoryOf);
    }

    /// <summary>The signature, then the descriptor it covers, the layout, the registry name and the index.</summary>
    private static BundleDescriptor VerifyHeader(Dictionary<string, byte[]> header, RegistrySettings current)
    {
        var absent = BundleFormat.HeaderEntries.Where(h => !header.ContainsKey(h)).ToList();
        if (absent.Count > 0)
        {
            throw new BundleRefusedException($"not a bundle, or torn: {string.Join(", ", absent)} missing before its first blob");
        }

        // The signature first, over the descriptor's bounded bytes; only a descriptor a trusted key signed is parsed.
        var json = header[BundleFormat.DescriptorFile];
        var signer = BundleSigning.Verify(current.Bundles.TrustedKeys, json, header[BundleFormat.SignatureFile]);
        var descriptor = BundleDescriptor.Parse(json);
        if (descriptor.KeyId != signer.Id)
        {
            throw new BundleRefusedException($"{BundleFormat.DescriptorFile} names key {descriptor.KeyId} but is signed by {signer.Id}");
        }

        VerifyLayout(header[BundleFormat.LayoutFile]);
        if (current.Name is null)
        {
            throw new BundleRefusedException("this registry has no name (twin 'name'), so no bundle can be for it");
        }

        if (descriptor.Registry != current.Name)
        {
            throw new BundleRefusedException($"the bundle is for registry '{descriptor.Registry}', this registry is '{current.Name}'");
        }

        if (!header[BundleFormat.IndexFile].AsSpan().SequenceEqual(SHA256.HashData(descriptor.IndexJson())))
        {
            throw new BundleRefusedException($"{BundleFormat.IndexFile} is not the one the signed descriptor implies: its tags were changed");
        }

        return descriptor;
    }

    /// <summary><c>oci-layout</c>: not signed, but no larger than MaxLayoutBytes, and a JSON object with imageLayoutVersion.</summary>
    private static void VerifyLayout(byte[] layout)
    {
        try
        {
            if ((string?)JObject.Parse(System.Text.Encoding.UTF8.GetString(layout))["imageLayoutVersion"] is null)
            {
                throw new BundleRefusedException($"{BundleFormat.LayoutFile} has no imageLayoutVersion");
            }
        }
        catch (Exception ex) when (ex is Newtonsoft.Json.JsonException or ArgumentException or InvalidCastException)
        {
            throw new BundleRefusedException($"{BundleFormat.LayoutFile} is not a JSON object with imageLayoutVersion");
        }
    }

    /// <summary>The repositories of the bundle in this registry's sync set, and which of them each object is imported for.</summary>
    private static (List<BundleRepository> Wanted, Dictionary<Digest, string> RepositoryOf) Take(BundleDescriptor descriptor, Dictionary<Digest, BundleObject> objects, RegistrySettings current)
    {
        var set = SyncSet.Of(current);
        var wanted = descriptor.Repositories.Where(r => set.Contains(r.Name)).OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
        var repositoryOf = new Dictionary<Digest, string>();
        foreach (var repository in wanted)
        {
            foreach (var digest in repository.Manifests.Concat(repository.Blobs))
            {
                if (!objects.ContainsKey(digest))
                {
                    throw new BundleRefusedException($"the descriptor's {repository.Name} needs {digest}, which is not in the bundle");
                }

                repositoryOf.TryAdd(digest, repository.Name);
            }

            if (repository.Tags.Values.FirstOrDefault(d => !repository.Manifests.Contains(d)) is { } orphan && orphan != default)
            {
                throw new BundleRefusedException($"a tag of {repository.Name} points at {orphan}, which the bundle does not hold for it");
            }
        }

        return (wanted, repositoryOf);
    }

    /// <summary>
    /// The next entry, its header bounded by <paramref name="guard"/>. Whatever the tar reader throws on a hostile
    /// header (a size field it cannot take: InvalidOperationException; an entry type it does not know:
    /// NotSupportedException; a torn or malformed block) is a refusal of the bundle, never an unhandled exception.
    /// </summary>
    private static async Task<TarEntry?> NextEntryAsync(TarReader reader, TarHeaderGuard guard, CancellationToken cancellationToken)
    {
        guard.BeginHeader();
        try
        {
            return await reader.GetNextEntryAsync(copyData: false, cancellationToken);
        }
        catch (Exception ex) when (ex is not (BundleRefusedException or OperationCanceledException))
        {
            throw new BundleRefusedException($"the bundle is torn or not a tar: {ex.Message}");
        }
        finally
        {
            guard.EndHeader();
        }
    }

    /// <summary>A name from the tar as a refusal shows it: at most 100 characters, control characters escaped (it goes into the log and the reported status).</summary>
    private static string Shown(string name)
    {
        var shown = name.Length > 100 ? name[..100] + "..." : name;
        return shown.Any(char.IsControl) ? string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())) : shown;
    }

    /// <summary>
    /// One header entry, refused unread when it declares more than its bound (<see cref="BundleFormat.MaxBytesOf"/>):
    /// <c>oci-layout</c>, <c>bundle.json</c> and <c>bundle.sig</c> whole, <c>index.json</c> only as its SHA-256 (it is
    /// compared with the one the signed descriptor implies, never parsed, so it need not be held).
    /// </summary>
    private static async Task<byte[]> ReadHeaderEntryAsync(TarEntry entry, CancellationToken cancellationToken)
    {
        var bound = BundleFormat.MaxBytesOf(entry.Name);
        if (entry.Length > bound)
        {
            throw new BundleRefusedException($"{entry.Name} is {entry.Length} bytes; a bundle's {entry.Name} holds at most {bound}");
        }

        var data = entry.DataStream ?? Stream.Null;
        try
        {
            if (entry.Name == BundleFormat.IndexFile)
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[81920];
                long read = 0;
                for (int n; (n = await data.ReadAsync(buffer, cancellationToken)) > 0; read += n)
                {
                    hash.AppendData(buffer, 0, n);
                }

                return read == entry.Length ? hash.GetHashAndReset() : throw new BundleRefusedException($"the bundle is torn in {entry.Name}");
            }

            var bytes = new byte[entry.Length];
            await data.ReadExactlyAsync(bytes, cancellationToken);
            return bytes;
        }
        catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException)
        {
            throw new BundleRefusedException($"the bundle is torn in {entry.Name}: {ex.Message}");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4210, Level = LogLevel.Information, Message = "Imported bundle {File}: {Outcome}")]
        public static partial void Imported(ILogger logger, string file, string outcome);

        [LoggerMessage(EventId = 4211, Level = LogLevel.Warning, Message = "Refused bundle {File}, nothing changed: {Reason}")]
        public static partial void Refused(ILogger logger, string file, string reason);
    }
}
