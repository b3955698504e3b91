using System.Net;
using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Sync;

/// <summary>
/// Sync up: delivers the outbox to the parent in order. A manifest goes up with everything under it first:
/// blobs (HEAD, skipped when the parent has them; else a cross-repository mount from a repository this pass
/// already pushed the blob to; else an upload streamed from local storage in resumable chunks, <see cref="ResumableBlobUpload"/>), then child manifests, then the
/// manifest itself, by tag when it was pushed by tag; a manifest with a subject is added to the parent's referrers
/// tag schema when the parent has no referrers API. Deletions follow. An item that fails stays for the next
/// pass until its message TTL expires (then it is dropped and reported by <see cref="SyncOutbox.DropExpired"/>).
/// </summary>
public sealed partial class SyncUp
{
    private readonly RegistryStore _store;
    private readonly SyncOutbox _outbox;
    private readonly ILogger<SyncUp> _logger;
    private readonly RegistryMetrics? _metrics;
    private readonly ResumableBlobUpload _uploads;

    public SyncUp(RegistryStore store, SyncOutbox outbox, ResumableBlobUpload uploads, ILogger<SyncUp> logger, RegistryMetrics? metrics = null)
    {
        _uploads = uploads;
        _metrics = metrics;
        _store = store;
        _outbox = outbox;
        _logger = logger;
    }

    public async Task<SyncUpResult> RunAsync(IParentRegistry parent, CancellationToken cancellationToken)
    {
        var delivered = 0;
        var failed = 0;
        var bytes = 0L;
        var knownAt = new Dictionary<Digest, string>(); // blob → a parent repository known to hold it (mount source)
        var held = new HashSet<string>(StringComparer.Ordinal); // tags and manifests with an undelivered earlier change
        var superseded = 0;
        _uploads.ForgetIdle();
        var pending = _outbox.Pending();
        var lastChangeOfTag = LastChangeOfTag(pending);

        foreach (var item in pending)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var keys = KeysOf(item);
            if (keys.Any(held.Contains))
            {
                continue; // an earlier change of the same tag or manifest failed: delivering this one first would reorder them
            }

            try
            {
                bytes += await DeliverAsync(parent, item, knownAt, cancellationToken);
                _outbox.Delivered(item.Id);
                delivered++;
            }
            catch (Exception ex) when (!ParentFailure.IsUnreachable(ex) && ex is not OperationCanceledException)
            {
                if (item.Tag is { } tag && lastChangeOfTag[$"{item.Repository}:{tag}"] != item.Id)
                {
                    // A newer change of this tag is queued: the tag's final state is that change, so this one is
                    // dropped instead of holding the newer one back until its message TTL runs out.
                    superseded++;
                    _outbox.Delivered(item.Id);
                    Log.PushSuperseded(_logger, item.Kind.ToString(), item.Repository, tag, ex.Message);
                    continue;
                }

                failed++;
                held.UnionWith(keys);
                _outbox.Failed(item.Id, ex.Message);
                Log.PushFailed(_logger, item.Kind.ToString(), item.Repository, item.Tag ?? item.Digest?.ToString() ?? "-", ex.Message);
            }
        }

        if (delivered + failed + superseded > 0)
        {
            Log.Pushed(_logger, delivered, failed, bytes);
        }

        return new SyncUpResult(delivered, failed, bytes, superseded);
    }

    /// <summary>repository:tag → the id of the newest change of that tag in <paramref name="pending"/>.</summary>
    private static Dictionary<string, long> LastChangeOfTag(IEnumerable<OutboxItem> pending)
    {
        var last = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var change in pending)
        {
            if (change.Tag is { } tag)
            {
                last[$"{change.Repository}:{tag}"] = change.Id;
            }
        }

        return last;
    }

    /// <summary>Delivers one outbox item to the parent; returns the bytes uploaded.</summary>
    private async Task<long> DeliverAsync(IParentRegistry parent, OutboxItem item, Dictionary<Digest, string> knownAt, CancellationToken cancellationToken)
    {
        switch (item.Kind)
        {
            case OutboxKind.PushManifest when item.Digest is { } digest:
                var manifest = _store.GetManifest(item.Repository, Reference.FromDigest(digest));
                return manifest is null ? 0 : await PushManifestAsync(parent, item.Repository, manifest, item.Tag, knownAt, 0, cancellationToken);
            case OutboxKind.DeleteManifest when item.Digest is { } digest:
                await parent.DeleteManifestAsync(item.Repository, digest, cancellationToken);
                return 0;
            case OutboxKind.DeleteTag when item.Tag is { } tag:
                await DeleteTagAsync(parent, item.Repository, tag, cancellationToken);
                return 0;
            default:
                return 0;
        }
    }

    /// <summary>What an outbox item changes at the parent: its tag and its manifest, per repository.</summary>
    private static string[] KeysOf(OutboxItem item) =>
        [.. new[] { item.Tag is { } tag ? $"{item.Repository}:{tag}" : null, item.Digest is { } digest ? $"{item.Repository}@{digest}" : null }.OfType<string>()];

    private async Task<long> PushManifestAsync(IParentRegistry parent, string repository, StoredManifest manifest, string? tag, Dictionary<Digest, string> knownAt, int depth, CancellationToken cancellationToken)
    {
        if (depth > 4)
        {
            throw new ParentContentException("manifests nest too deep");
        }

        var bytes = 0L;
        if (tag is null && await parent.HeadManifestAsync(repository, manifest.Digest.ToString(), cancellationToken) is not null)
        {
            return 0; // already there, and so is everything under it
        }

        var parsed = ManifestParser.Parse(manifest.Content, manifest.MediaType);
        foreach (var blob in parsed.RequiredBlobs)
        {
            bytes += await PushBlobAsync(parent, repository, blob, knownAt, cancellationToken);
        }

        foreach (var child in parsed.Manifests)
        {
            if (_store.GetManifest(repository, Reference.FromDigest(child.Digest)) is { } stored)
            {
                bytes += await PushManifestAsync(parent, repository, stored, null, knownAt, depth + 1, cancellationToken);
            }
            else if (await parent.HeadManifestAsync(repository, child.Digest.ToString(), cancellationToken) is null)
            {
                // An entry the platform filter left out came from the parent, which has it; anything else is missing.
                throw new ParentContentException($"child manifest {child.Digest} is not stored locally");
            }
        }

        await parent.PutManifestAsync(repository, tag ?? manifest.Digest.ToString(), manifest.Content, manifest.MediaType, cancellationToken);
        if (parsed.Subject is { } subject)
        {
            await AddToReferrersTagAsync(parent, repository, subject.Digest, manifest, parsed, cancellationToken);
        }

        return bytes + manifest.Size;
    }

    /// <summary>
    /// For a parent without the referrers API, keeps the referrers tag schema (<c>sha256-HEX</c> → an index of the
    /// subject's referrers) up to date, as the OCI distribution spec asks of a client pushing a manifest with a
    /// subject to such a registry; a local client could not do it, having pushed to this registry, which has the API.
    /// </summary>
    private static async Task AddToReferrersTagAsync(IParentRegistry parent, string repository, Digest subject, StoredManifest referrer, ParsedManifest parsed, CancellationToken cancellationToken)
    {
        if (await parent.ReferrersAsync(repository, subject, cancellationToken, useTagSchema: false) is not null)
        {
            return; // the parent indexes referrers itself
        }

        var tag = $"{subject.Algorithm}-{subject.Hex}";
        var existing = await parent.GetManifestAsync(repository, tag, cancellationToken);
        var manifests = existing is not null && MediaTypes.IsIndex(existing.MediaType)
            ? JObject.Parse(System.Text.Encoding.UTF8.GetString(existing.Bytes))["manifests"] as JArray ?? []
            : [];
        if (manifests.OfType<JObject>().Any(m => (string?)m["digest"] == referrer.Digest.ToString()))
        {
            return;
        }

        var descriptor = new JObject
        {
            ["mediaType"] = referrer.MediaType,
            ["digest"] = referrer.Digest.ToString(),
            ["size"] = referrer.Size,
        };
        if (parsed.EffectiveArtifactType is { } artifactType)
        {
            descriptor["artifactType"] = artifactType;
        }

        if (parsed.Annotations is { Count: > 0 } annotations)
        {
            descriptor["annotations"] = JObject.FromObject(annotations);
        }

        manifests.Add(descriptor);
        var index = new JObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = manifests };
        await parent.PutManifestAsync(repository, tag, System.Text.Encoding.UTF8.GetBytes(index.ToString(Newtonsoft.Json.Formatting.None)), MediaTypes.OciIndex, cancellationToken);
    }

    private async Task<long> PushBlobAsync(IParentRegistry parent, string repository, Descriptor blob, Dictionary<Digest, string> knownAt, CancellationToken cancellationToken)
    {
        if (await parent.HeadBlobAsync(repository, blob.Digest, cancellationToken) is not null)
        {
            knownAt.TryAdd(blob.Digest, repository);
            return 0;
        }

        if (knownAt.TryGetValue(blob.Digest, out var from) && from != repository && await parent.MountBlobAsync(repository, blob.Digest, from, cancellationToken))
        {
            return 0;
        }

        long size;
        try
        {
            await using var probe = _store.OpenBlob(blob.Digest);
            size = probe.Length;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // This change's failure, not the parent's: an IOException here would end the pass as "parent unreachable".
            throw new InvalidOperationException($"blob {blob.Digest} cannot be read from local storage ({ex.GetType().Name})", ex);
        }

        await _uploads.UploadAsync(parent, repository, blob.Digest, () => _store.OpenBlob(blob.Digest), size, cancellationToken);
        _metrics?.SyncBlobPushed(size);
        knownAt[blob.Digest] = repository;
        return size;
    }

    /// <summary>Deletes a tag at the parent; registries that cannot delete a bare tag (distribution) keep it, which is logged.</summary>
    private async Task DeleteTagAsync(IParentRegistry parent, string repository, string tag, CancellationToken cancellationToken)
    {
        try
        {
            await parent.DeleteTagAsync(repository, tag, cancellationToken);
        }
        catch (ParentRegistryException ex) when (ex.Status is HttpStatusCode.BadRequest or HttpStatusCode.MethodNotAllowed || ex.Code == OciErrorCode.Unsupported.Code)
        {
            Log.TagDeleteUnsupported(_logger, repository, tag);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4070, Level = LogLevel.Information, Message = "Pushed local changes to the parent: {Delivered} delivered, {Failed} failed, {Bytes} bytes")]
        public static partial void Pushed(ILogger logger, int delivered, int failed, long bytes);

        [LoggerMessage(EventId = 4071, Level = LogLevel.Warning, Message = "Could not push {Kind} of {Repository} ({Reference}) to the parent: {Reason}; retried next pass")]
        public static partial void PushFailed(ILogger logger, string kind, string repository, string reference, string reason);

        [LoggerMessage(EventId = 4072, Level = LogLevel.Information, Message = "The parent cannot delete tag {Repository}:{Tag} on its own; it stays there")]
        public static partial void TagDeleteUnsupported(ILogger logger, string repository, string tag);

        [LoggerMessage(EventId = 4073, Level = LogLevel.Warning, Message = "Dropped a {Kind} of {Repository}:{Tag} the parent refused ({Reason}): a newer change of that tag is queued and goes up instead")]
        public static partial void PushSuperseded(ILogger logger, string kind, string repository, string tag, string reason);
    }
}

/// <summary>What a pass delivered; <paramref name="Superseded"/> counts refused changes dropped because a newer change of the same tag was queued.</summary>
public sealed record SyncUpResult(int Delivered, int Failed, long BytesUploaded, int Superseded = 0);
