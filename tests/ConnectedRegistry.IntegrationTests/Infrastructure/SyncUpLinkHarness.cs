using ConnectedRegistry.Core;
using ConnectedRegistry.Oci;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// Sync up over a thin link: a parent (this module, open, or a docker-registry with Basic auth) behind a
/// <see cref="LinkEmulator"/>, and this module as a ReadWrite child with its default sync options, whose scheduler
/// pushes what a client pushed to it. The child is configured through its settings store; a restart keeps its data
/// folder (and so <c>sync.db</c> with the upload sessions it keeps).
/// </summary>
public sealed class SyncUpLinkHarness : IAsyncDisposable
{
    /// <summary>The layer the measurements push: 64 MiB.</summary>
    public const int LayerBytes = 64 * 1024 * 1024;

    /// <summary>The dropping link of the sync up figures: 40 Mbit/s, a reset after each 8 MB, 1 s down.</summary>
    public static readonly LinkProfile DroppingLink = new(40_000_000, TimeSpan.Zero, 8_000_000, TimeSpan.FromSeconds(1));

    private readonly RegistryInstance? _moduleParent;
    private readonly DockerRegistry? _dockerParent;
    private RegistrySettings _settings = RegistrySettings.Default;
    private bool _childStopped;

    private SyncUpLinkHarness(RegistryInstance? moduleParent, DockerRegistry? dockerParent, RegistryInstance child, string layoutDir)
    {
        _moduleParent = moduleParent;
        _dockerParent = dockerParent;
        ParentEndpoint = moduleParent?.BaseAddress ?? dockerParent!.Endpoint;
        Link = LinkEmulator.Start(ParentEndpoint);
        Child = child;
        LayoutDir = layoutDir;
        Layout = new OciLayoutBuilder(layoutDir);
    }

    /// <summary>The parent's own address (not over the link).</summary>
    public Uri ParentEndpoint { get; }

    /// <summary>The parent as the child sees it: over the link.</summary>
    public Uri LinkedParent => Link.AddressFor(ParentEndpoint);

    public LinkEmulator Link { get; }

    public RegistryInstance Child { get; private set; }

    /// <summary>The parent when it is this module.</summary>
    public RegistryInstance ModuleParent => _moduleParent ?? throw new InvalidOperationException("the parent is a docker-registry");

    public string LayoutDir { get; }

    public OciLayoutBuilder Layout { get; }

    public ParentUploadSessions UploadSessions => Child.App.Services.GetRequiredService<ParentUploadSessions>();

    public static async Task<SyncUpLinkHarness> StartAsync(bool moduleParent)
    {
        var module = moduleParent ? await RegistryInstance.StartAsync() : null;
        var docker = moduleParent ? null : await DockerRegistry.StartNewAsync();
        var child = await StartChildAsync(null);
        return new SyncUpLinkHarness(module, docker, child, TempDirectory.Create("layout"));
    }

    private static Task<RegistryInstance> StartChildAsync(string? dataRoot) =>
        RegistryInstance.StartAsync(dataRoot, configure: builder =>
            builder.Services.AddSingleton(new SyncEnvironment(name => name == ParentCredentials.PasswordVariable ? DockerRegistry.Password : null)));

    /// <summary>
    /// Pushes a single-platform image of <paramref name="layers"/> to the child as <paramref name="repository"/>:v1
    /// (directly, not over the link) while its schedule is closed, then opens it (continuous): sync up starts.
    /// </summary>
    public async Task<TestBlob> PushToChildAndSyncAsync(string repository, params TestBlob[] layers)
    {
        Apply(repository, new SyncSettings { Schedule = "0 0 30 2 *", Window = TimeSpan.FromHours(1) });
        var image = Layout.Image("amd64", layers);
        var layoutTag = repository.Replace('/', '-');
        Layout.Tag(image, layoutTag);
        await Skopeo.CopyAsync($"oci:{LayoutDir}:{layoutTag}", $"docker://{Child.HostPort}/{repository}:v1", all: true, extraArgs: ["--quiet", "--dest-tls-verify=false"]);
        Apply(repository, new SyncSettings { Schedule = SyncSettings.ContinuousSchedule });
        return image;
    }

    /// <summary>Stops the child and starts it again on the same data folder with the same settings.</summary>
    public async Task RestartChildAsync()
    {
        var dataRoot = Child.DataRoot;
        await Child.DisposeAsync();
        Child = await StartChildAsync(dataRoot);
        Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(_settings);
    }

    /// <summary>Stops the child (its upload breaks off) until <see cref="StartChildAgainAsync"/>.</summary>
    public async Task StopChildAsync()
    {
        _childStopped = true;
        await Child.DisposeAsync();
    }

    /// <summary>Starts the child stopped by <see cref="StopChildAsync"/> again on the same data folder with the same settings.</summary>
    public async Task StartChildAgainAsync()
    {
        Child = await StartChildAsync(Child.DataRoot);
        _childStopped = false;
        Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(_settings);
    }

    /// <summary>A client for the parent that talks to it directly (not over the link).</summary>
    public ParentRegistryClient ParentClient() =>
        new(ParentEndpoint, _dockerParent is null ? null : new ParentCredentials(DockerRegistry.User, DockerRegistry.Password), new ParentClientOptions(), TimeProvider.System, NullLogger.Instance);

    /// <summary>True when the parent's <paramref name="repository"/>:v1 is <paramref name="image"/>.</summary>
    public async Task<bool> ParentHasAsync(string repository, TestBlob image)
    {
        using var parent = ParentClient();
        return (await parent.HeadManifestAsync(repository, "v1", default))?.Digest == image.Digest;
    }

    /// <summary>The digest of the parent's copy of a blob, computed over the bytes it serves.</summary>
    public async Task<Digest> ParentBlobDigestAsync(string repository, Digest digest)
    {
        using var parent = ParentClient();
        await using var download = await parent.GetBlobAsync(repository, digest, 0, default);
        using var hasher = Digest.CreateHasher(Digest.Sha256);
        var buffer = new byte[81920];
        int read;
        while ((read = await download.Content.ReadAsync(buffer)) > 0)
        {
            hasher.AppendData(buffer, 0, read);
        }

        return Digest.FromHash(Digest.Sha256, hasher.GetCurrentHash());
    }

    private void Apply(string repository, SyncSettings sync)
    {
        _settings = new RegistrySettings
        {
            Name = "upload-child",
            Mode = RegistryMode.ReadWrite,
            Parent = new ParentSettings { Endpoint = LinkedParent, SyncTokenName = DockerRegistry.User },
            Sync = sync with { Repositories = [repository] },
        };
        Child.App.Services.GetRequiredService<RegistrySettingsStore>().Apply(_settings);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_childStopped)
        {
            await Child.DisposeAsync();
        }

        Child.DeleteData();
        await Link.DisposeAsync();
        if (_moduleParent is not null)
        {
            await _moduleParent.DisposeAsync();
            _moduleParent.DeleteData();
        }

        if (_dockerParent is not null)
        {
            await _dockerParent.DisposeAsync();
        }

        TempDirectory.Delete(LayoutDir);
    }

    /// <summary>
    /// Pushes a 64 MiB layer to a new child and measures its sync up over <see cref="DroppingLink"/> (the resumable sync
    /// up test and the thin-link benchmark). With <paramref name="giveUpAfter"/>, a parent that never gets it whole
    /// (docker-registry: every drop costs the session) ends the measurement then, as not completed.
    /// </summary>
    public static async Task<SyncUpLinkResult> MeasureOverDroppingLinkAsync(bool moduleParent, TimeSpan? giveUpAfter = null)
    {
        await using var h = await StartAsync(moduleParent);
        DroppingLink.ApplyTo(h.Link);
        var layer = h.Layout.Layer(LayerBytes);
        const string repository = "edge/drops";
        var image = await h.PushToChildAndSyncAsync(repository, layer);
        var completed = true;
        try
        {
            await Poll.UntilAsync(() => h.ParentHasAsync(repository, image), "the image at the parent over the dropping link", giveUpAfter ?? TimeSpan.FromSeconds(180));
            completed = await h.ParentBlobDigestAsync(repository, layer.Digest) == layer.Digest;
        }
        catch (Xunit.Sdk.XunitException) when (giveUpAfter is not null)
        {
            completed = false;
        }

        return new SyncUpLinkResult(moduleParent ? "this module" : "docker-registry", layer.Size, h.Link.BytesToParent, h.Link.Drops, h.Link.Elapsed.TotalSeconds, completed);
    }
}

/// <summary>One sync up measurement over the dropping link; <see cref="Completed"/>: the parent holds the image, its layer intact.</summary>
public sealed record SyncUpLinkResult(string Parent, long BlobBytes, long BytesToParent, int Drops, double Seconds, bool Completed)
{
    public double BytesRatio => (double)BytesToParent / BlobBytes;

    public override string ToString() =>
        $"to {Parent}: blob {BlobBytes} B, to parent {BytesToParent} B (ratio {BytesRatio:0.000}), {Drops} drops, {Seconds:0.0} s{(Completed ? string.Empty : ", not completed")}";
}
