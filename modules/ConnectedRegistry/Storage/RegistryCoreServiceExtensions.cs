using ConnectedRegistry.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace ConnectedRegistry.Storage;

public static class RegistryCoreServiceExtensions
{
    /// <summary>
    /// Registers the registry core: storage under <see cref="RegistryOptions.DataRoot"/> (blob files, SQLite
    /// metadata, upload sessions), the <see cref="RegistryStore"/> facade, garbage collection
    /// (<see cref="IGarbageCollector"/> plus its cron schedule), retention (<see cref="RetentionPass"/> and its
    /// scheduler; sync answers <see cref="ISyncHolds"/> when it is registered), and storage housekeeping.
    /// </summary>
    public static WebApplicationBuilder AddRegistryCore(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton(StorageOptions.FromConfiguration(builder.Configuration));
        services.AddSingleton(sp =>
        {
            var layout = new DataLayout(sp.GetRequiredService<RegistryOptions>().DataRoot);
            layout.EnsureCreated();
            return layout;
        });
        services.AddSingleton<MetadataDatabase>();
        services.AddSingleton<BlobStore>();
        services.AddSingleton<RepositoryBlobs>();
        services.AddSingleton<PartialBlobStore>();
        services.AddSingleton<RegistryStore>();
        services.AddSingleton<UploadSessionStore>();
        services.AddSingleton<GarbageCollector>();
        services.AddSingleton<IGarbageCollector>(sp => sp.GetRequiredService<GarbageCollector>());
        services.AddSingleton<FreeSpaceGuard>();
        services.AddSingleton<StorageMaintenanceService>();
        services.AddHostedService(sp => sp.GetRequiredService<StorageMaintenanceService>());
        services.AddSingleton<PullRecorder>();
        services.AddHostedService(sp => sp.GetRequiredService<PullRecorder>());
        services.AddSingleton<GarbageCollectionScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<GarbageCollectionScheduler>());
        services.AddSingleton<RetentionPass>();
        services.TryAddSingleton(new RetentionSchedulerOptions());
        services.AddSingleton<RetentionScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionScheduler>());
        return builder;
    }
}
