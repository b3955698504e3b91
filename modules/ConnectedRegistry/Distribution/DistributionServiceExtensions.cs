namespace ConnectedRegistry.Distribution;

public static class DistributionServiceExtensions
{
    /// <summary>
    /// The Distribution API's services: <see cref="RegistryEventPublisher"/> (pushes and deletes to the
    /// registered event sinks). Needs the storage of <c>AddRegistryCore</c>; map the endpoints with
    /// <c>app.MapDistributionApi()</c>.
    /// </summary>
    public static WebApplicationBuilder AddDistributionApi(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<RegistryEventPublisher>();
        return builder;
    }
}
