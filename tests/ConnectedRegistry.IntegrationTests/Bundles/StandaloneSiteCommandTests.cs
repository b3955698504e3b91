using System.Net;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Bundles;

/// <summary>
/// A standalone site (no IoT Hub) driven only by the module's executable, as the README's "Sites without a link" has
/// the operator type it (<c>cr</c> = <c>dotnet ConnectedRegistry.dll</c>): the direct methods through <c>call</c>, over
/// the unix socket in the data root, and every bundle command of the README against headquarters' registry.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // unix sockets, file modes and setpriv
public sealed class StandaloneSiteCommandTests
{
    [Fact]
    public async Task Every_readme_bundle_command_works_on_a_standalone_site_with_call_for_the_methods()
    {
        await using var parent = await DockerRegistry.StartNewAsync();
        var work = TempDirectory.Create("standalone-site");
        var data = Path.Combine(work, "data");
        var desired = Path.Combine(work, "desired.json");
        try
        {
            // headquarters holds apps/web:v1 (the sample image, made locally)
            Assert.Equal(0, (await CrAsync(work, "sample-image", "--output", "sample", "--tag", "v1")).Code);
            await parent.PushAsync(Path.Combine(work, "sample"), "v1", "apps/web", "v1");

            // 0. cr bundle keygen --key hq/exporter.pem; the site trusts the key
            var keygen = await CrAsync(work, "bundle", "keygen", "--key", "hq/exporter.pem");
            Assert.True(keygen.Code == 0, keygen.Error);
            var trusted = JObject.Parse(keygen.Output)["desired"]!["bundles"]!;
            await File.WriteAllTextAsync(desired, new JObject
            {
                ["schemaVersion"] = "1.0",
                ["name"] = "site-registry",
                ["sync"] = new JObject { ["repositories"] = new JArray("apps/*") },
                ["bundles"] = trusted,
            }.ToString());

            await using (var site = ModuleProcess.Start(["--data", data, "--desired", desired, "--reported", Path.Combine(work, "reported.json"), "--urls", "http://127.0.0.1:0", "--metrics-urls", ""], workingDirectory: work))
            {
                var address = new Uri(System.Text.RegularExpressions.Regex.Match(await site.LineAsync("Registry listening on"), @"http://[^\s,]+").Value);
                await site.LineAsync("Direct methods served locally");
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, "control.sock")));

                // getStatus answers once the desired file applied; a wrong method or payload is its error status, exit 1
                var status = (0, string.Empty, string.Empty);
                await Poll.UntilAsync(async () => (status = await CrAsync(work, "call", "getStatus", "--data", data)) is { Item1: 0 } ok && (int?)JObject.Parse(ok.Item2)["desired"]?["code"] == 200,
                    "getStatus with the desired document applied", TimeSpan.FromSeconds(30));
                Assert.Equal("site-registry", (string?)JObject.Parse(status.Item2)["settings"]?["name"]);
                var unknown = await CrAsync(work, "call", "getstatus", "--data", data);
                Assert.Equal(1, unknown.Code);
                Assert.Equal("MethodNotFound", (string?)JObject.Parse(unknown.Output)["error"]!["code"]);
                var badPayload = await CrAsync(work, "call", "garbageCollect", "--data", data, "--payload", "{not json");
                Assert.Equal(1, badPayload.Code);
                Assert.Equal("BadPayload", (string?)JObject.Parse(badPayload.Output)["error"]!["code"]);
                Assert.Equal(0, (await CrAsync(work, "call", "garbageCollect", "--data", data, "--payload", "{}")).Code);
                var syncNow = await CrAsync(work, "call", "syncNow", "--data", data);
                Assert.Equal(1, syncNow.Code); // no parent: 409 NoParent, as through IoT Hub
                Assert.Equal("NoParent", (string?)JObject.Parse(syncNow.Output)["error"]!["code"]);

                // 1. at the site: what it holds (the method on the running module)
                var state = await CrAsync(work, "call", "bundleState", "--data", data);
                Assert.True(state.Code == 0, state.Output + state.Error);
                File.Copy(Path.Combine(data, "bundles", "state.json"), Path.Combine(work, "state.json"));

                // 2. at headquarters: export what the site lacks, from the parent, with the sync token
                var export = await CrAsync(work, ["bundle", "export", "--parent", parent.Endpoint.ToString(), "--user", DockerRegistry.User, "--key", "hq/exporter.pem", "--since", "state.json", "--output", "site-2026-12.tar"],
                    new Dictionary<string, string> { ["PARENT_SYNC_TOKEN_PASSWORD"] = DockerRegistry.Password });
                Assert.True(export.Code == 0, export.Error);
                await Skopeo.RunAsync("inspect", "oci-archive:" + Path.Combine(work, "site-2026-12.tar") + ":apps/web:v1");

                // 3. carry it into the data volume and import it with the method
                File.Copy(Path.Combine(work, "site-2026-12.tar"), Path.Combine(data, "bundles", "site-2026-12.tar"));
                var import = await CrAsync(work, "call", "importBundle", "--data", data, "--payload", """{"path": "bundles/site-2026-12.tar"}""");
                Assert.True(import.Code == 0, import.Output + import.Error);
                using var http = new HttpClient { BaseAddress = address };
                await Poll.UntilAsync(async () => (await http.GetAsync("/v2/apps/web/manifests/v1")).StatusCode == HttpStatusCode.OK, "apps/web:v1 imported", TimeSpan.FromSeconds(60));
            }

            var stopped = await CrAsync(work, "call", "getStatus", "--data", data); // killed: its socket is left, and nobody answers on it
            Assert.Equal(1, stopped.Code);
            Assert.Contains("no registry answers on", stopped.Error, StringComparison.Ordinal);

            // the stopped site: state and import with the last good desired document it kept (no --desired)
            var offlineState = await CrAsync(work, "bundle", "state", "--data", data, "--output", "state-2.json");
            Assert.True(offlineState.Code == 0, offlineState.Error);
            Assert.Equal(1, (int)JObject.Parse(offlineState.Output)["tags"]!);
            var offlineImport = await CrAsync(work, "bundle", "import", "--data", data, "site-2026-12.tar");
            Assert.True(offlineImport.Code == 0, offlineImport.Error);
        }
        finally
        {
            TempDirectory.Delete(work);
        }
    }

    [Fact]
    public async Task Another_user_cannot_call_the_methods()
    {
        const int Nobody = 65534;
        var work = TempDirectory.Create("standalone-site");
        var data = Path.Combine(work, "data");
        var desired = Path.Combine(work, "desired.json");
        try
        {
            await File.WriteAllTextAsync(desired, """{ "schemaVersion": "1.0" }""");
            await using var site = ModuleProcess.Start(["--data", data, "--desired", desired, "--reported", Path.Combine(work, "reported.json"), "--urls", "http://127.0.0.1:0", "--metrics-urls", ""], workingDirectory: work);
            await site.LineAsync("Direct methods served locally");
            File.SetUnixFileMode(work, (UnixFileMode)0b111_101_101); // the folders may be passed through; the socket may not
            File.SetUnixFileMode(data, (UnixFileMode)0b111_101_101);

            var (module, moduleArgs) = Tools.ModuleCommand(["call", "getStatus", "--data", data]);
            var (exit, output, error) = await Tools.RunToExitAsync("setpriv", [$"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", module, .. moduleArgs],
                new Dictionary<string, string> { ["DOTNET_CLI_HOME"] = "/tmp", ["HOME"] = "/tmp" });

            Assert.Equal(1, exit);
            Assert.Empty(output);
            Assert.Contains("only its user (or root) may call its methods", error, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(work);
        }
    }

    private static Task<(int Code, string Output, string Error)> CrAsync(string work, params string[] args) => CrAsync(work, args, null);

    private static async Task<(int Code, string Output, string Error)> CrAsync(string work, string[] args, IReadOnlyDictionary<string, string>? environment)
    {
        var (exit, output, error) = await Tools.RunModuleAsync(args, environment, TimeSpan.FromMinutes(2), work);
        return (exit, output, error);
    }
}
