using System.Net;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Image;

/// <summary>
/// The image run with Docker alone, as the README shows it: a fresh bind folder (created by the engine, root's) just
/// works with the registry not running as root; a data folder it cannot use ends in one line and exit code 2 in the
/// container's log. And the arm64 image's application: published for linux-arm64 as its Dockerfile does.
/// </summary>
[Collection(ModuleImageCollection.Name)]
public sealed class ModuleImageTests(ModuleImage image)
{
    [Fact]
    public async Task Docker_run_with_a_bind_folder_the_engine_creates_serves_as_the_app_user()
    {
        var device = TempDirectory.Create("docker-run");
        var hostData = Path.Combine(device, "data");
        var port = DockerRegistry.FreePort();
        var metrics = DockerRegistry.FreePort();
        var name = "cr-run-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            await image.Docker.RunAsync("run", "-d", "--name", name, "--network", "host",
                "-e", $"ASPNETCORE_URLS=http://127.0.0.1:{port}", "-e", $"REGISTRY_METRICS_URLS=http://127.0.0.1:{metrics}",
                "-v", $"{hostData}:/var/lib/connected-registry", ModuleImage.Reference);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            await Poll.UntilAsync(
                () => HttpProbe.AnswersAsync(http, () => new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{port}/v2/")), r => r.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized),
                "the container answering /v2/",
                TimeSpan.FromSeconds(60));

            var pid = int.Parse((await image.Docker.RunAsync("inspect", "--format", "{{.State.Pid}}", name)).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(1654u, EdgeAgentDeploymentTests.ProcessUid(pid));
            Assert.True(File.Exists(Path.Combine(hostData, "registry.db")));
            Assert.Equal(string.Empty, await Tools.RunAsync("find", [hostData, "!", "-uid", "1654"]));

            // The commands the README gives for the image: the executable, and the JIT image's `dotnet ConnectedRegistry.dll`
            // (operators' scripts), which the native image runs the same way; a .NET command it cannot run says why.
            var answers = new List<JObject>();
            foreach (var command in new[] { new[] { "/app/ConnectedRegistry" }, ["dotnet", "ConnectedRegistry.dll"] })
            {
                var status = JObject.Parse(await image.Docker.RunAsync(["exec", name, .. command, "call", "getStatus"]));
                Assert.True(status["reported"] is JObject && status["settings"] is JObject, $"{string.Join(' ', command)} call getStatus: {status}");
                answers.Add(status);
            }

            Assert.Equal(answers[0]["settings"]!.ToString(), answers[1]["settings"]!.ToString());

            var (code, _, error) = await Tools.RunToExitAsync("docker", ["exec", name, "dotnet", "--info"], image.Docker.CliEnvironment);
            Assert.Equal(127, code);
            Assert.Contains("no .NET runtime", error, StringComparison.Ordinal);
        }
        finally
        {
            await Tools.RunToExitAsync("docker", ["rm", "-f", name], image.Docker.CliEnvironment);
            TempDirectory.Delete(device);
        }
    }

    [Fact]
    public async Task A_read_only_data_volume_ends_the_container_with_one_line_naming_the_folder_and_exit_code_2()
    {
        var device = TempDirectory.Create("docker-run-ro");
        var name = "cr-ro-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            await image.Docker.RunAsync("run", "-d", "--name", name, "--network", "host",
                "-e", "ASPNETCORE_URLS=http://127.0.0.1:0", "-e", "REGISTRY_METRICS_URLS=",
                "-v", $"{device}:/var/lib/connected-registry:ro", ModuleImage.Reference);
            var exit = await Poll.ForAsync<string>(
                () =>
                {
                    var state = image.Docker.RunAsync("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).GetAwaiter().GetResult().Trim();
                    return state.StartsWith("exited ", StringComparison.Ordinal) ? state : null;
                },
                "the container exited",
                TimeSpan.FromSeconds(60));
            Assert.Equal("exited 2", exit);
            var (_, stdout, stderr) = await Tools.RunToExitAsync("docker", ["logs", name], image.Docker.CliEnvironment);
            var lines = (stdout + stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var line = Assert.Single(lines);
            Assert.StartsWith("error: ", line, StringComparison.Ordinal);
            Assert.Contains("/var/lib/connected-registry", line, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", stdout + stderr, StringComparison.Ordinal);
        }
        finally
        {
            await Tools.RunToExitAsync("docker", ["rm", "-f", name], image.Docker.CliEnvironment);
            TempDirectory.Delete(device);
        }
    }

    [Fact]
    public async Task The_arm64_application_publishes_for_linux_arm64_as_its_dockerfile_does()
    {
        var output = TempDirectory.Create("arm64-publish");
        try
        {
            // Dockerfile.arm64v8's publish step (the SDK stage cross-publishes on the build machine's platform).
            await Tools.RunAsync(Tools.DotnetHost, ["publish", Path.Combine(ModuleImage.RepositoryRoot, "modules", "ConnectedRegistry", "ConnectedRegistry.csproj"),
                "-c", "Release", "-r", "linux-arm64", "--self-contained", "false", "-o", output, "-nologo", "-v", "quiet"],
                limit: TimeSpan.FromMinutes(6)); // a whole restore and build: past 2 minutes on a loaded 2-core machine
            Assert.True(File.Exists(Path.Combine(output, "ConnectedRegistry.dll")));
            Assert.Equal(ElfMachineAarch64, ElfMachine(Path.Combine(output, "ConnectedRegistry")));
            Assert.Equal(ElfMachineAarch64, ElfMachine(Path.Combine(output, "libe_sqlite3.so")));
        }
        finally
        {
            TempDirectory.Delete(output);
        }
    }

    private const ushort ElfMachineAarch64 = 183;

    /// <summary>The <c>e_machine</c> field of an ELF file (little-endian, at offset 18).</summary>
    private static ushort ElfMachine(string path)
    {
        var header = new byte[20];
        using var file = File.OpenRead(path);
        file.ReadExactly(header);
        Assert.Equal("\u007fELF", System.Text.Encoding.ASCII.GetString(header, 0, 4));
        return BitConverter.ToUInt16(header, 18);
    }
}
