using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using Microsoft.Extensions.Options;

namespace ConnectedRegistry.Twin;

public static class ModuleTwinServiceCollectionExtensions
{
    /// <summary>
    /// The module twin: desired properties → <see cref="RegistrySettingsStore"/>, <see cref="ModuleState"/> →
    /// reported properties, direct methods. Needs <see cref="RegistryOptions"/>, <see cref="ModuleState"/>,
    /// <see cref="RegistrySettingsStore"/>, <see cref="TimeProvider"/> and the module identity (<c>AddModuleIdentity</c>)
    /// registered (RegistryHost does).
    /// Other parts add their methods with <c>services.AddDirectMethod&lt;T&gt;("name")</c>.
    /// </summary>
    public static WebApplicationBuilder AddModuleTwin(this WebApplicationBuilder builder)
    {
        var options = TwinOptions.FromConfiguration(builder.Configuration);
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton<LogLevelSwitch>();
        services.AddSingleton<IConfigureOptions<LoggerFilterOptions>>(sp => sp.GetRequiredService<LogLevelSwitch>());
        services.AddSingleton<IOptionsChangeTokenSource<LoggerFilterOptions>>(sp => sp.GetRequiredService<LogLevelSwitch>());
        services.AddSingleton(sp => new DesiredPropertiesPipeline(
            sp.GetRequiredService<RegistrySettingsStore>(), sp.GetRequiredService<ILogger<DesiredPropertiesPipeline>>(), sp.GetRequiredService<LogLevelSwitch>(), sp.GetRequiredService<ModuleEnvironment>(),
            sp.GetRequiredService<ModuleState>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IDesiredStatusSource>(sp => sp.GetRequiredService<DesiredPropertiesPipeline>()); // for the metrics
        services.AddSingleton<ReportedPropertiesReporter>();
        services.AddSingleton<DirectMethodDispatcher>();
        services.AddSingleton<ModuleTwinService>();
        services.AddHostedService(sp => sp.GetRequiredService<ModuleTwinService>());
        services.AddSingleton<IModuleMessageOutput>(sp => sp.GetRequiredService<ModuleTwinService>()); // the events queue sends through its client
        services.AddDirectMethod<GetStatusMethod>("getStatus");
        services.AddDirectMethod<GarbageCollectMethod>("garbageCollect");
        services.AddDirectMethod<RetentionMethod>("retention");
        services.AddHostedService<LocalMethodChannel>(); // the same methods for `ConnectedRegistry call`, standalone or not
        return builder;
    }
}
