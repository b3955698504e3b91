using ConnectedRegistry.Core;
using ConnectedRegistry.Storage;

namespace ConnectedRegistry.Events;

public static class EventsServiceExtensions
{
    /// <summary>
    /// Events on the module output <c>events</c>: the <see cref="EventQueue"/> as <see cref="IEventPublisher"/> (for operational
    /// events) and as an <see cref="IRegistryEventSink"/> (client pushes and deletes), sending through the module client
    /// (<see cref="IModuleMessageOutput"/>, registered by the twin).
    /// </summary>
    public static WebApplicationBuilder AddRegistryEvents(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton(EventOptions.FromConfiguration(builder.Configuration));
        services.AddSingleton(sp => new EventQueue(
            sp.GetRequiredService<IRegistrySettingsSource>(),
            sp.GetRequiredService<ModuleState>(),
            sp.GetRequiredService<EventOptions>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<EventQueue>>(),
            () => sp.GetService<IModuleMessageOutput>()?.Sender,
            () => sp.GetService<RegistryStore>()));
        services.AddSingleton<IEventPublisher>(sp => sp.GetRequiredService<EventQueue>());
        services.AddSingleton<IRegistryEventSink>(sp => sp.GetRequiredService<EventQueue>());
        services.AddHostedService(sp => sp.GetRequiredService<EventQueue>());
        return builder;
    }
}
