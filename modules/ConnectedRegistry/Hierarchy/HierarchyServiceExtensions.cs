using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Sync;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace ConnectedRegistry.Hierarchy;

public static class HierarchyServiceExtensions
{
    /// <summary>
    /// Registers the hierarchy: the parent side (child activations, the change log as an event sink of client pushes and
    /// sync writes, <c>deactivateChild</c>) and the child side (activation before every sync pass, the change feed
    /// follower, <c>deactivate</c> and <c>activate</c>). Call after <c>AddRegistryCore</c>, <c>AddRegistryAuth</c>,
    /// <c>AddParentSync</c> and <c>AddModuleTwin</c>; map the endpoints with <c>app.MapHierarchyApi()</c>.
    /// </summary>
    public static WebApplicationBuilder AddHierarchy(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(HierarchyOptions.FromConfiguration(builder.Configuration));
        services.TryAddSingleton(sp => EdgeInstance.From(sp.GetRequiredService<ModuleEnvironment>()));
        services.AddSingleton<HierarchyStore>();
        services.AddSingleton<ChangeLog>();
        services.AddSingleton<IRegistryEventSink>(sp => sp.GetRequiredService<ChangeLog>());
        services.AddSingleton<ISyncChangeSink>(sp => sp.GetRequiredService<ChangeLog>());
        services.AddSingleton<ChildActivations>();
        services.AddHostedService(sp => sp.GetRequiredService<ChildActivations>());
        services.AddSingleton<ChildAuthentication>();
        services.AddSingleton<LocalActivation>();
        services.AddSingleton<IParentActivation>(sp => sp.GetRequiredService<LocalActivation>());
        services.AddHostedService(sp => sp.GetRequiredService<LocalActivation>());
        services.AddSingleton<ChangeFeedFollower>();
        services.AddHostedService(sp => sp.GetRequiredService<ChangeFeedFollower>());
        services.AddDirectMethod<DeactivateMethod>("deactivate");
        services.AddDirectMethod<ActivateMethod>("activate");
        services.AddDirectMethod<DeactivateChildMethod>("deactivateChild");
        return builder;
    }
}
