using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

[assembly: TestCollectionOrderer("ConnectedRegistry.IntegrationTests.Infrastructure.ModuleImageFirst", "ConnectedRegistry.IntegrationTests")]

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>The tests that run the module as its image share one private engine and one build of the image per run.</summary>
[CollectionDefinition(Name)]
public sealed class ModuleImageCollection : ICollectionFixture<ModuleImage>
{
    public const string Name = "Module image";
}

/// <summary>
/// The module's image, built the way its users build it: <c>docker build</c> of the unmodified
/// <c>modules/ConnectedRegistry/Dockerfile.amd64</c> from the repository root (module.json's <c>contextPath</c>), in a
/// private Docker engine (<see cref="DockerDaemon"/>). The base images the Dockerfile names cannot be pulled here, so
/// <c>scripts/stand-in-base-images.sh</c> makes stand-ins with the same names first: a minimal Debian root file system
/// (mmdebstrap) with this machine's .NET, and the environment and user the real ones have. The build's restore reaches
/// the package feed over the host network (<c>--network host</c>). Once per test run: the build takes minutes.
/// </summary>
public sealed class ModuleImage : IAsyncLifetime
{
    public const string Reference = "connected-registry:0.1.0-amd64";

    /// <summary>
    /// The private engine. <c>ECR_TEST_KEEP_DOCKERD=DIR</c> keeps its folder in DIR across runs, so that a developer
    /// re-running these tests reuses the stand-in base images and the build cache; CI leaves it unset.
    /// </summary>
    public DockerDaemon Docker { get; } = Environment.GetEnvironmentVariable("ECR_TEST_KEEP_DOCKERD") is { Length: > 0 } kept ? DockerDaemon.Kept(kept) : new();

    /// <summary>The checkout the image is built from (the folder holding <c>EdgeConnectedRegistry.sln</c>).</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>How long <c>docker build</c> took (not counting the stand-in base images).</summary>
    public TimeSpan BuildTime { get; private set; }

    /// <summary>The image's size as the engine reports it, in bytes.</summary>
    public long Size { get; private set; }

    public async Task InitializeAsync()
    {
        await Docker.InitializeAsync();
        if (!await BaseImagesPresentAsync())
        {
            await MakeBaseImagesAsync();
        }

        var watch = Stopwatch.StartNew();
        await Docker.RunAsync(TimeSpan.FromMinutes(15), "build", "--network", "host", "-q", "-f", Path.Combine(RepositoryRoot, "modules", "ConnectedRegistry", "Dockerfile.amd64"), "-t", Reference, RepositoryRoot);
        BuildTime = watch.Elapsed;
        Size = long.Parse((await Docker.RunAsync("image", "inspect", "--format", "{{.Size}}", Reference)).Trim(), CultureInfo.InvariantCulture);
        Console.WriteLine($"module image {Reference}: built in {BuildTime.TotalSeconds:F0} s, {Size / 1e6:F0} MB");
    }

    private async Task MakeBaseImagesAsync()
    {
        var work = TempDirectory.Create("base-images");
        try
        {
            var (exit, _, stderr) = await Tools.RunToExitAsync(
                "bash",
                [Path.Combine(RepositoryRoot, "scripts", "stand-in-base-images.sh"), work],
                new Dictionary<string, string> { ["DOCKER_HOST"] = "unix://" + Docker.Socket, ["DOCKER_CONFIG"] = Docker.ConfigDirectory },
                TimeSpan.FromMinutes(10));
            if (exit != 0)
            {
                throw new InvalidOperationException("the stand-in base images could not be made: " + stderr);
            }
        }
        finally
        {
            TempDirectory.Delete(work);
        }
    }

    private async Task<bool> BaseImagesPresentAsync()
    {
        var (exit, _, _) = await Tools.RunToExitAsync("docker", ["image", "inspect", "mcr.microsoft.com/dotnet/aspnet:10.0", "mcr.microsoft.com/dotnet/sdk:10.0"], Docker.CliEnvironment);
        return exit == 0;
    }

    public Task DisposeAsync() => Docker.DisposeAsync();

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "EdgeConnectedRegistry.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("the repository root (EdgeConnectedRegistry.sln) is not above " + AppContext.BaseDirectory);
    }
}

/// <summary>
/// Starts the module image's collection first: its fixture builds the image for minutes, and started last it would
/// run alone after everything else (the other collections run beside it on the second core); the rest keep xunit's
/// default order (by unique id).
/// </summary>
public sealed class ModuleImageFirst : ITestCollectionOrderer
{
    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderBy(c => c.DisplayName == ModuleImageCollection.Name ? 0 : 1).ThenBy(c => c.UniqueID);
}
