using ConnectedRegistry.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// The real registry on real Kestrel at 127.0.0.1:0 with its own data folder. Dispose stops it; the
/// data folder is kept until <see cref="DeleteData"/> so that restart tests can start a second instance on it.
/// </summary>
public sealed class RegistryInstance : IAsyncDisposable
{
    private bool _disposed;
    private bool _deleteDataOnDispose;

    private RegistryInstance(WebApplication app, string dataRoot, Uri baseAddress)
    {
        App = app;
        DataRoot = dataRoot;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress };
    }

    public WebApplication App { get; }

    public string DataRoot { get; }

    public Uri BaseAddress { get; }

    /// <summary>host:port, as skopeo wants it.</summary>
    public string HostPort => $"{BaseAddress.Host}:{BaseAddress.Port}";

    public HttpClient Client { get; }

    public static async Task<RegistryInstance> StartAsync(string? dataRoot = null, IEnumerable<string>? extraArgs = null, Action<WebApplicationBuilder>? configure = null)
    {
        dataRoot ??= TempDirectory.Create("registry");
        var args = new List<string> { "--urls", "http://127.0.0.1:0", "--data", dataRoot };
        if (extraArgs is not null)
        {
            args.AddRange(extraArgs);
        }

        // Standalone twin files live in the instance's own data folder unless a test names them. A registry answers 503
        // until a desired document applies (fail closed): one the test does not name is the open one most tests want,
        // written here as an operator would (in IoT Edge mode the module reads the twin instead and never this file).
        if (!args.Contains("--desired"))
        {
            var desired = Path.Combine(dataRoot, "twin", "desired.json");
            args.AddRange(["--desired", desired]);
            WriteOpenDesired(desired);
        }

        if (!args.Contains("--reported"))
        {
            args.AddRange(["--reported", Path.Combine(dataRoot, "twin", "reported.json")]);
        }

        var app = RegistryHost.Build([.. args], builder =>
        {
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            configure?.Invoke(builder);
        });
        try
        {
            await app.StartAsync();
        }
        catch
        {
            // A start-up error (bad settings): stop what already started so no service outlives the test.
            await app.StopAsync();
            await app.DisposeAsync();
            throw;
        }

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var address = addresses.First();
        var https = addresses.FirstOrDefault(a => a.StartsWith("https://", StringComparison.Ordinal));
        return new RegistryInstance(app, dataRoot, new Uri(https ?? address));
    }

    /// <summary>The desired document of an open registry (no token, no child), unless the file is there already.</summary>
    public static void WriteOpenDesired(string path)
    {
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, """{ "schemaVersion": "1.0" }""");
        }
    }

    /// <summary>
    /// Deletes the data folder: now when the instance is stopped, else once it is (a running registry still writes
    /// there, and deleting under it fails with "Directory not empty"; tests call this in <c>finally</c> before their
    /// <c>await using</c> disposes the instance).
    /// </summary>
    public void DeleteData()
    {
        if (_disposed)
        {
            TempDirectory.Delete(DataRoot);
        }
        else
        {
            _deleteDataOnDispose = true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        if (_deleteDataOnDispose)
        {
            TempDirectory.Delete(DataRoot);
        }
    }
}

public static class TempDirectory
{
    public static string Create(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), "ecr-tests", $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    public static void Delete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
