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
        var resumed = archive.Resume();
        var descriptor = resumed is { } header
            ? ResumeDescriptor(archive, header.Descriptor, request, key)
            : await WriteHeaderAsync(archive, await PlanAsync(source, request, BundleSigning.KeyIdOf(key), manifests, cancellationToken), key, cancellationToken);

        foreach (var item in descriptor.Objects)
        {
            var name = BundleFormat.BlobEntry(item.Digest);
            if (!archive.Done.Contains(name))
            {
                await WriteObjectAsync(source, archive, name, item, manifests, cancellationToken);
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

    /// <summary>The descriptor of the export a re-run resumes, refused when it is for another registry or key.</summary>
    private BundleDescriptor ResumeDescriptor(BundleArchiveWriter archive, byte[] json, BundleExportRequest request, ECDsa key)
    {
        var descriptor = BundleDescriptor.Parse(json);
        if (descriptor.KeyId != BundleSigning.KeyIdOf(key) || descriptor.Registry != request.Registry)
        {
            throw new BundleRefusedException($"{archive.PartialPath} is an export for registry '{descriptor.Registry}' signed by {descriptor.KeyId}; remove it to start another");
        }

        Log.Resumed(logger, archive.PartialPath, archive.Done.Count, descriptor.Objects.Count + BundleFormat.HeaderEntries.Length);
        return descriptor;
    }

    /// <summary>Writes a new export's header entries: the layout, the index, the descriptor and its signature.</summary>
    private static async Task<BundleDescriptor> WriteHeaderAsync(BundleArchiveWriter archive, BundleDescriptor descriptor, ECDsa key, CancellationToken cancellationToken)
    {
        var json = descriptor.ToJson();
        await archive.WriteAsync(BundleFormat.LayoutFile, System.Text.Encoding.UTF8.GetBytes(BundleFormat.LayoutJson), cancellationToken);
        await archive.WriteAsync(BundleFormat.IndexFile, descriptor.IndexJson(), cancellationToken);
        await archive.WriteAsync(BundleFormat.DescriptorFile, json, cancellationToken);
        await archive.WriteAsync(BundleFormat.SignatureFile, BundleSigning.Sign(key, json), cancellationToken);
        return descriptor;
    }

    /// <summary>One manifest or blob, streamed from the source into the tar and verified on the way.</summary>
    private static async Task WriteObjectAsync(IParentRegistry source, BundleArchiveWriter archive, string name, BundleObject item, Dictionary<Digest, ManifestContent> manifests, CancellationToken cancellationToken)
    {
        if (item.IsManifest)
        {
            var manifest = manifests.GetValueOrDefault(item.Digest)
                ?? await source.GetManifestAsync(item.Repository, item.Digest.ToString(), cancellationToken)
                ?? throw new BundleRefusedException($"manifest {item.Digest} of {item.Repository} is gone from the source");
            await archive.WriteAsync(name, manifest.Bytes, cancellationToken);
            return;
        }

        await using var download = await source.GetBlobAsync(item.Repository, item.Digest, 0, cancellationToken);
        if (download.Offset != 0)
        {
            throw new BundleRefusedException($"the source sent blob {item.Digest} from byte {download.Offset}, not from its start");
        }

        await using var checking = new DigestCheckingStream(download.Content, item.Digest, item.Size, "blob");
        await archive.WriteAsync(name, checking, item.Size, cancellationToken);
    }

    /// <summary>The bundle's content: the selection's tags that differ from the site's state, with their manifest graphs and referrers.</summary>
    private async Task<BundleDescriptor> PlanAsync(IParentRegistry source, BundleExportRequest request, string keyId, Dictionary<Digest, ManifestContent> manifests, CancellationToken cancellationToken)
    {
        var planner = new Planner(source, request, manifests, cancellationToken);
        var repositories = new List<BundleRepository>();
        foreach (var repository in await request.Selection.RepositoriesAsync(source, logger, cancellationToken))
        {
            var tags = await source.ListTagsAsync(repository, cancellationToken);
            if (tags is null)
            {
                Log.RepositoryMissing(logger, repository);
                continue;
            }

            var plan = await planner.PlanRepositoryAsync(repository, tags);
            if (plan.Tags.Count > 0)
            {
                repositories.Add(new BundleRepository(repository, plan.Tags, plan.Manifests, plan.Blobs));
            }
        }

        var since = request.Since is null ? null : new BundleSince(request.Since.Registry ?? request.Registry, request.Since.Created, Digest.Compute(request.SinceFile ?? request.Since.ToJson()));
        return new BundleDescriptor(request.Registry, keyId, request.Exporter, DateTimeOffset.UtcNow, since, repositories, planner.Objects());
    }

    /// <summary>Walks the selection's tags into the bundle's objects: manifests first, then blobs, each once.</summary>
    private sealed class Planner(IParentRegistry source, BundleExportRequest request, Dictionary<Digest, ManifestContent> manifests, CancellationToken cancellationToken)
    {
        private readonly Dictionary<Digest, BundleObject> _objects = [];
        private readonly List<Digest> _manifestOrder = [];
        private readonly List<Digest> _blobOrder = [];

        public List<BundleObject> Objects() => [.. _manifestOrder.Concat(_blobOrder).Select(d => _objects[d])];

        /// <summary>The tags of one repository the selection takes and the site lacks, with what they need.</summary>
        public async Task<RepositoryPlan> PlanRepositoryAsync(string repository, IEnumerable<string> tags)
        {
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
                await AddManifestAsync(plan, head.Digest, 0, selection.Platforms);
            }

            return plan;
        }

        /// <summary>A manifest and what it needs; platforms: the children of an index to take (the tag's selection), the index itself is written byte for byte.</summary>
        private async Task AddManifestAsync(RepositoryPlan plan, Digest digest, int depth, PlatformFilter platforms)
        {
            if (depth > MaxDepth)
            {
                throw new BundleRefusedException($"manifests of {plan.Name} nest deeper than {MaxDepth} levels");
            }

            if (plan.Manifests.Contains(digest))
            {
                return;
            }

            var manifest = manifests.GetValueOrDefault(digest)
                ?? await source.GetManifestAsync(plan.Name, digest.ToString(), cancellationToken)
                ?? throw new BundleRefusedException($"manifest {digest} of {plan.Name} is referenced but the source does not have it");
            manifests[digest] = manifest;
            plan.Manifests.Add(digest);
            if (_objects.TryAdd(digest, new BundleObject(digest, manifest.Bytes.LongLength, manifest.MediaType, plan.Name)))
            {
                _manifestOrder.Add(digest);
            }

            var parsed = manifest.Parse();
            foreach (var child in platforms.Select(parsed.Manifests).Selected)
            {
                await AddManifestAsync(plan, child.Digest, depth + 1, platforms);
            }

            AddBlobs(plan, parsed.RequiredBlobs);
            if (depth == 0 && await source.ReferrersAsync(plan.Name, digest, cancellationToken, useTagSchema: false) is { } referrers)
            {
                foreach (var referrer in referrers)
                {
                    await AddManifestAsync(plan, referrer.Digest, 1, PlatformFilter.All);
                }
            }
        }

        /// <summary>The blobs a manifest needs that the site does not have already.</summary>
        private void AddBlobs(RepositoryPlan plan, IEnumerable<Descriptor> blobs)
        {
            foreach (var blob in blobs)
            {
                if (request.Since?.Blobs.Contains(blob.Digest) == true || plan.Blobs.Contains(blob.Digest))
                {
                    continue;
                }

                plan.Blobs.Add(blob.Digest);
                if (_objects.TryAdd(blob.Digest, new BundleObject(blob.Digest, blob.Size, null, plan.Name)))
                {
                    _blobOrder.Add(blob.Digest);
                }
            }
        }
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
