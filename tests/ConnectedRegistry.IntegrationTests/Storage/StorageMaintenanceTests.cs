using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>Storage housekeeping in the running app: a failing refresh must not take the registry down.</summary>
public sealed class StorageMaintenanceTests
{
    [Fact]
    public async Task A_database_error_while_publishing_storage_status_is_survived_and_publishing_resumes()
    {
        var registry = await RegistryInstance.StartAsync(configure: builder =>
            builder.Services.AddSingleton(new StorageOptions { StatusInterval = TimeSpan.FromMilliseconds(50) }));
        try
        {
            var services = registry.App.Services;
            var maintenance = services.GetRequiredService<StorageMaintenanceService>();
            var state = services.GetRequiredService<ModuleState>();
            var lifetime = services.GetRequiredService<IHostApplicationLifetime>();
            var database = Path.Combine(registry.DataRoot, DataLayout.DatabaseFile);

            // The storage count's query fails for a while (as a disk or database error would make it).
            TestDatabase.Execute(database, "ALTER TABLE repositories RENAME TO repositories_away");
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            Assert.False(maintenance.ExecuteTask!.IsCompleted, "the housekeeping loop ended");
            Assert.False(lifetime.ApplicationStopping.IsCancellationRequested, "the registry is stopping");
            TestDatabase.Execute(database, "ALTER TABLE repositories_away RENAME TO repositories");

            // Once the database answers again, the status is published again.
            var blob = new TestBlob(TestContent.Bytes("maintenance", 1234), "x");
            await registry.Client.PushBlobAsync("maint/one", blob);
            await Poll.UntilAsync(() => state.Snapshot().Storage.UsedBytes >= 1234, "the pushed blob counted in the storage status");
        }
        finally
        {
            await registry.DisposeAsync();
            registry.DeleteData();
        }
    }
}
