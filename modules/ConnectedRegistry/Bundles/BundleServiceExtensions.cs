using ConnectedRegistry.Core;

namespace ConnectedRegistry.Bundles;

public static class BundleServiceExtensions
{
    /// <summary>
    /// Registers offline bundles: the importer (over sync's local side and <see cref="Sync.TagSync"/>) and the direct
    /// methods <c>bundleState</c> and <c>importBundle</c>. Requires the registry core and sync (<c>AddParentSync</c>).
    /// </summary>
    public static WebApplicationBuilder AddBundles(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<BundleImporter>();
        builder.Services.AddDirectMethod<BundleStateMethod>("bundleState");
        builder.Services.AddDirectMethod<ImportBundleMethod>("importBundle");
        return builder;
    }
}
