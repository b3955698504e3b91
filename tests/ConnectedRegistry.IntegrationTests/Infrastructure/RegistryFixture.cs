namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>One registry shared by the tests of a class (each test uses its own repository names).</summary>
public sealed class RegistryFixture : IAsyncLifetime
{
    public RegistryInstance Registry { get; private set; } = null!;

    public HttpClient Client => Registry.Client;

    public async Task InitializeAsync() => Registry = await RegistryInstance.StartAsync();

    public async Task DisposeAsync()
    {
        await Registry.DisposeAsync();
        Registry.DeleteData();
    }
}
