using ConnectedRegistry.Core;
using ConnectedRegistry.IntegrationTests.Sync;
using ConnectedRegistry.Sync;
using static ConnectedRegistry.IntegrationTests.Infrastructure.HierarchyHarness;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// The nested IoT Edge layout on one machine, with the real parts of each hop: a cloud stand-in (docker-registry with
/// htpasswd) → this module ReadWrite as the top layer (syncing <c>factory/*</c> from the cloud, the lower layer's
/// registry under its children) → nginx with the stock IoT Edge API proxy configuration in front of it (TLS from a test
/// CA) → this module ReadOnly as the lower layer, whose parent endpoint is the proxy's https address and which trusts
/// the test CA through <c>PARENT_CA_FILE</c>. Both modules run their schedulers; the lower one idles ten minutes between
/// passes, so only the change feed brings content sooner.
/// </summary>
internal sealed class NestedLayout : IAsyncDisposable
{
    public const string LowerName = "edge-lower-1";
    public const string LowerPassword = "lower-1-sync-Passw0rd";
    public static readonly IReadOnlyList<string> Subset = ["factory/*"];

    private NestedLayout(DockerRegistry cloud, RegistryInstance top, ApiProxy proxy, RegistryInstance lower, string layout)
    {
        Cloud = cloud;
        Top = top;
        Proxy = proxy;
        Lower = lower;
        LayoutDirectory = layout;
        Layout = new OciLayoutBuilder(layout);
    }

    public DockerRegistry Cloud { get; }

    public RegistryInstance Top { get; }

    public ApiProxy Proxy { get; }

    public RegistryInstance Lower { get; }

    public string LayoutDirectory { get; }

    /// <summary>Where tests make images to put into the cloud stand-in.</summary>
    public OciLayoutBuilder Layout { get; }

    /// <summary>The top layer's settings: ReadWrite, the cloud as parent, the lower layer as its ReadOnly child.</summary>
    public static RegistrySettings TopSettings(Uri cloud) =>
        ParentSettings("edge-top-1", new Dictionary<string, ChildRegistrySettings>
        {
            [LowerName] = new() { Mode = RegistryMode.ReadOnly, SyncTokenPasswordHash = Hash(LowerPassword), Repositories = Subset },
        }) with
        {
            Parent = new ParentSettings { Endpoint = cloud, SyncTokenName = DockerRegistry.User },
            Sync = new SyncSettings { Repositories = Subset },
        };

    /// <summary>
    /// Starts every part; the lower layer gets its settings only once <paramref name="beforeLower"/> ran (content put
    /// into the cloud, say), so that its first pass finds it at the top.
    /// </summary>
    /// <param name="proxyServer">The proxy's server block: the stock one unless a test needs another.</param>
    public static async Task<NestedLayout> StartAsync(Func<NestedLayout, Task>? beforeLower = null, string proxyServer = ApiProxy.StockServer)
    {
        var cloud = await DockerRegistry.StartNewAsync();
        var top = await HierarchyHarness.StartAsync(syncPassword: DockerRegistry.Password);
        var proxy = await ApiProxy.StartAsync(top.HostPort, proxyServer);
        var lowerSync = SyncHarness.FastOptions with { Client = SyncHarness.FastOptions.Client with { CaFile = proxy.CaFile } };
        var lower = await HierarchyHarness.StartAsync(
            syncPassword: LowerPassword,
            scheduler: new SyncSchedulerOptions { IdleDelay = TimeSpan.FromMinutes(10), RetryDelay = TimeSpan.FromSeconds(1) },
            sync: lowerSync);
        var layout = new NestedLayout(cloud, top, proxy, lower, TempDirectory.Create("nested-layout"));
        try
        {
            top.Apply(TopSettings(cloud.Endpoint));
            if (beforeLower is not null)
            {
                await beforeLower(layout);
            }

            lower.Apply(ChildSettings(LowerName, proxy.Endpoint, Subset));
            return layout;
        }
        catch
        {
            await layout.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Lower.DisposeAsync();
        await Proxy.DisposeAsync();
        await Top.DisposeAsync();
        await Cloud.DisposeAsync();
        Lower.DeleteData();
        Top.DeleteData();
        TempDirectory.Delete(LayoutDirectory);
    }
}
