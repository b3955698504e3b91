using System.Diagnostics;
using System.Security.Cryptography;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;

namespace ConnectedRegistry.Bundles;

/// <summary>What to export: for which registry, which repositories, since which state of the site, by whom.</summary>
public sealed record BundleExportRequest(string Registry, BundleSelection Selection, BundleState? Since, byte[]? SinceFile, string Exporter);

/// <summary>What an export wrote.</summary>
public sealed record BundleExportResult(string Path, int Repositories, int Tags, int Manifests, int Blobs, long Bytes, bool Resumed, double Seconds);

/// <summary>
/// <c>bundle export</c>: reads a registry (any OCI registry through <see cref="IParentRegistry"/>, as sync down does)
/// and writes a signed bundle. First the plan — the selection's repositories and tags, each tag's manifest graph and
/// referrers, minus the tags and blobs the site's state (<c>--since</c>) already has — becomes the signed
/// descriptor; then every manifest and blob streams from the registry into the tar, verified on the way
/// (<see cref="DigestCheckingStream"/>). Resumable through <see cref="BundleArchiveWriter"/>: a re-run keeps the
/// plan of the first and writes only the entries not yet whole.
/// </summary>
public sealed partial class BundleExporter(ILogger logger)
{
    private const int MaxDepth = 4;

    public async Task<BundleExportResult> ExportAsync(IParentRegistry source, BundleExportRequest request, ECDsa key, string output, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var archive = new BundleArchiveWriter(output);
        var manifests = new Dictionary<Digest, ManifestContent>();
        BundleDescriptor descriptor;
        var resumed = archive.Resume();
        if (resumed is { } header)
        {
            descriptor = BundleDescriptor.Parse(header.Descriptor);
            if (descriptor.KeyId != BundleSigning.KeyIdOf(key) || descriptor.Registry != request.Registry)
            {
                throw new BundleRefusedException($"{archive.PartialPath} is an export for registry '{descriptor.Registry}' signed by {descriptor.KeyId}; remove it to start another");
            }

            Log.Resumed(logger, archive.PartialPath, archive.Done.Count, descriptor.Objects.Count + BundleFormat.HeaderEntries.Length);
        }
        else
        {
            descriptor = await PlanAsync(source, request, BundleSigning.KeyIdOf(key), manifests, cancellationToken);
            var json = descriptor.ToJson();
            await archive.WriteAsync(BundleFormat.LayoutFile, System.Text.Encoding.UTF8.GetBytes(BundleFormat.LayoutJson), cancellationToken);
            await archive.WriteAsync(BundleFormat.IndexFile, descriptor.IndexJson(), cancellationToken);
            await archive.WriteAsync(BundleFormat.DescriptorFile, json, cancellationToken);
            await archive.WriteAsync(BundleFormat.SignatureFile, BundleSigning.Sign(key, json), cancellationToken);
        }

        foreach (var item in descriptor.Objects)
        {
            var name = BundleFormat.BlobEntry(item.Digest);
            if (archive.Done.Contains(name))
            {
                continue;
            }

            if (item.IsManifest)
            {
                var manifest = manifests.GetValueOrDefault(item.Digest)
                    ?? await source.GetManifestAsync(item.Repository, item.Digest.ToString(), cancellationToken)
                    ?? throw new BundleRefusedException($"manifest {item.Digest} of {item.Repository} is gone from the source");
                await archive.WriteAsync(name, manifest.Bytes, cancellationToken);
            }
            else
            {
                await using var download = await source.GetBlobAsync(item.Repository, item.Digest, 0, cancellationToken);
                if (download.Offset != 0)
                {
                    throw new BundleRefusedException($"the source sent blob {item.Digest} from byte {download.Offset}, not from its start");
                }

                await using var checking = new DigestCheckingStream(download.Content, item.Digest, item.Size, "blob");
                await archive.WriteAsync(name, checking, item.Size, cancellationToken);
            }
        }

        var bytes = archive.Length;
        archive.Complete();
        var result = new BundleExportResult(Path.GetFullPath(output), descriptor.Repositories.Count, descriptor.Repositories.Sum(r => r.Tags.Count),
            descriptor.Objects.Count(o => o.IsManifest), descriptor.Objects.Count(o => !o.IsManifest), bytes + 1024, resumed is not null,
            Stopwatch.GetElapsedTime(started).TotalSeconds);
        Log.Exported(logger, result.Path, request.Registry, result.Repositories, result.Tags, result.Blobs, result.Bytes);
        return result;
    }

    /// <summary>The bundle's content: the selection's tags that differ from the site's state, with their manifest graphs and referrers.</summary>
    private async Task<BundleDescriptor> PlanAsync(IParentRegistry source, BundleExportRequest request, string keyId, Dictionary<Digest, ManifestContent> manifests, CancellationToken cancellationToken)
    {
        var objects = new Dictionary<Digest, BundleObject>();
        var manifestOrder = new List<Digest>();
        var blobOrder = new List<Digest>();
        var repositories = new List<BundleRepository>();
        foreach (var repository in await request.Selection.RepositoriesAsync(source, logger, cancellationToken))
        {
            var tags = await source.ListTagsAsync(repository, cancellationToken);
            if (tags is null)
            {
                Log.RepositoryMissing(logger, repository);
                continue;
            }

            var siteTags = request.Since?.Repositories.GetValueOrDefault(repository);
            var plan = new RepositoryPlan(repository);
            foreach (var tag in tags.Order(StringComparer.Ordinal))
            {
                var selection = request.Selection.SelectTag(repository, tag);
                if (!selection.IsSelected)
                {
                    continue;
                }

                var head = await source.HeadManifestAsync(repository, tag, cancellationToken);
                if (head is null || (siteTags is not null && siteTags.TryGetValue(tag, out var at) && at == head.Digest))
                {
                    continue; // gone meanwhile, or the site has it
                }

                plan.Tags[tag] = head.Digest;
                await AddManifestAsync(head.Digest, 0, selection.Platforms);
            }

            if (plan.Tags.Count > 0)
            {
                repositories.Add(new BundleRepository(repository, plan.Tags, plan.Manifests, plan.Blobs));
            }

            // platforms: the children of an index to take (the tag's selection); the index itself is written byte for byte
            async Task AddManifestAsync(Digest digest, int depth, PlatformFilter platforms)
            {
                if (depth > MaxDepth)
                {
                    throw new BundleRefusedException($"manifests of {repository} nest deeper than {MaxDepth} levels");
                }

                if (plan.Manifests.Contains(digest))
                {
                    return;
                }

                var manifest = manifests.GetValueOrDefault(digest)
                    ?? await source.GetManifestAsync(repository, digest.ToString(), cancellationToken)
                    ?? throw new BundleRefusedException($"manifest {digest} of {repository} is referenced but the source does not have it");
                manifests[digest] = manifest;
                plan.Manifests.Add(digest);
                if (objects.TryAdd(digest, new BundleObject(digest, manifest.Bytes.LongLength, manifest.MediaType, repository)))
                {
                    manifestOrder.Add(digest);
                }

                var parsed = manifest.Parse();
                foreach (var child in platforms.Select(parsed.Manifests).Selected)
                {
                    await AddManifestAsync(child.Digest, depth + 1, platforms);
                }

                foreach (var blob in parsed.RequiredBlobs)
                {
                    if (request.Since?.Blobs.Contains(blob.Digest) == true || plan.Blobs.Contains(blob.Digest))
                    {
                        continue;
                    }

                    plan.Blobs.Add(blob.Digest);
                    if (objects.TryAdd(blob.Digest, new BundleObject(blob.Digest, blob.Size, null, repository)))
                    {
                        blobOrder.Add(blob.Digest);
                    }
                }

                if (depth == 0 && await source.ReferrersAsync(repository, digest, cancellationToken, useTagSchema: false) is { } referrers)
                {
                    foreach (var referrer in referrers)
                    {
                        await AddManifestAsync(referrer.Digest, 1, PlatformFilter.All);
                    }
                }
            }
        }

        var since = request.Since is null ? null : new BundleSince(request.Since.Registry ?? request.Registry, request.Since.Created, Digest.Compute(request.SinceFile ?? request.Since.ToJson()));
        return new BundleDescriptor(request.Registry, keyId, request.Exporter, DateTimeOffset.UtcNow, since, repositories,
            [.. manifestOrder.Concat(blobOrder).Select(d => objects[d])]);
    }

    private sealed class RepositoryPlan(string name)
    {
        public string Name { get; } = name;

        public Dictionary<string, Digest> Tags { get; } = new(StringComparer.Ordinal);

        public List<Digest> Manifests { get; } = [];

        public List<Digest> Blobs { get; } = [];
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4200, Level = LogLevel.Information, Message = "Exported bundle {Path} for {Registry}: {Repositories} repositories, {Tags} tags, {Blobs} blobs, {Bytes} bytes")]
        public static partial void Exported(ILogger logger, string path, string registry, int repositories, int tags, int blobs, long bytes);

        [LoggerMessage(EventId = 4201, Level = LogLevel.Information, Message = "Resuming the export in {Path}: {Done} of {Total} entries are whole")]
        public static partial void Resumed(ILogger logger, string path, int done, int total);

        [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message = "{Repository} is not in the source registry; it is left out of the bundle")]
        public static partial void RepositoryMissing(ILogger logger, string repository);
    }
}
