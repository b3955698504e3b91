using ConnectedRegistry.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace ConnectedRegistry.Sync;

public static class SyncServiceExtensions
{
    /// <summary>
    /// Registers sync with the parent: the parent client factory (<see cref="ParentSync"/>), sync down, sync up with
    /// its outbox (an <see cref="IRegistryEventSink"/>), on-demand fetch (the <see cref="IOnDemandSource"/>), the <c>syncNow</c> direct method, the
    /// scheduler and the bandwidth limiter (hosted services; resolve <see cref="SyncScheduler"/> to call <see cref="SyncScheduler.SyncNow"/>).
    /// Requires the registry core (<c>AddRegistryCore</c>). Options and the environment can be replaced by registering
    /// <see cref="SyncOptions"/>, <see cref="SyncSchedulerOptions"/>, <see cref="SyncEnvironment"/> or
    /// <see cref="IParentTrustSource"/> afterwards.
    /// </summary>
    public static WebApplicationBuilder AddParentSync(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(SyncOptions.FromConfiguration(builder.Configuration));
        services.TryAddSingleton(new SyncSchedulerOptions());
        services.TryAddSingleton(new SyncEnvironment());
        services.TryAddSingleton<IParentTrustSource, EdgeTrustBundleSource>();
        services.TryAddSingleton<LinkThrottle>();
        services.AddSingleton<BandwidthLimiter>();
        services.AddHostedService(sp => sp.GetRequiredService<BandwidthLimiter>());
        services.AddSingleton<SyncStateStore>();
        services.AddSingleton<SyncOutbox>();
        services.AddSingleton<IRegistryEventSink>(sp => sp.GetRequiredService<SyncOutbox>());
        services.AddSingleton<IPendingPushes>(sp => sp.GetRequiredService<SyncOutbox>());
        services.AddSingleton<OnDemandContent>();
        services.AddSingleton<IRegistryEventSink>(sp => sp.GetRequiredService<OnDemandContent>());
        services.AddSingleton<ISyncHolds, SyncHolds>();
        services.AddSingleton<ISyncDestination, RegistryDestination>();
        services.AddSingleton<BlobDownloads>();
        services.AddSingleton<ManifestGraphSync>();
        services.AddSingleton(sp => new TagSync(
            sp.GetRequiredService<ISyncDestination>(), sp.GetRequiredService<ManifestGraphSync>(), sp.GetRequiredService<SyncStateStore>(),
            sp.GetRequiredService<IPendingPushes>(), sp.GetRequiredService<SyncOptions>(), sp.GetRequiredService<ILogger<SyncDown>>(),
            sp.GetServices<ISyncChangeSink>(), sp.GetRequiredService<OnDemandContent>()));
        services.AddSingleton<OnDemandFetch>();
        services.AddSingleton<IOnDemandSource>(sp => sp.GetRequiredService<OnDemandFetch>());
        services.AddSingleton<OnDemandEviction>();
        services.AddHostedService(sp => sp.GetRequiredService<OnDemandEviction>());
        services.AddSingleton<SyncDown>();
        services.AddSingleton<ParentUploadSessions>();
        services.AddSingleton<ResumableBlobUpload>();
        services.AddSingleton<SyncUp>();
        services.AddSingleton<ParentSync>();
        services.AddSingleton<ISyncWork>(sp => sp.GetRequiredService<ParentSync>());
        services.AddSingleton<SyncScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<SyncScheduler>());
        services.AddDirectMethod<SyncNowMethod>("syncNow");
        return builder;
    }
}
