using System.Net;
using System.Net.Sockets;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Monitoring;

/// <summary>
/// The module started as operators start it, with something it cannot start with: a port another process holds, a
/// data folder it cannot use (a file, read-only, full, another user's, a damaged database), a bad option value, a bad
/// certificate file, a bad IoT Edge environment. Each must end with one line on stderr that names the option (and the
/// path) and exit code 2, not an unhandled exception (a stack trace and SIGABRT); in IoT Edge the error is also reported.
/// </summary>
public sealed class StartupErrorTests
{
    /// <summary>The uid the "another user" cases run the module as (nobody): root passes every permission check.</summary>
    private const int OtherUser = 65534;

    [Theory]
    [InlineData("--metrics-urls")]
    [InlineData("--urls")]
    public async Task A_port_in_use_ends_the_module_with_one_line_naming_the_option_and_exit_code_2(string option)
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var busy = $"http://127.0.0.1:{((IPEndPoint)holder.LocalEndpoint).Port}";
        var data = TempDirectory.Create("startup-error");
        try
        {
            string[] ports = option == "--urls" ? ["--urls", busy, "--metrics-urls", ""] : ["--urls", "http://127.0.0.1:0", "--metrics-urls", busy];
            var error = await StartFailsAsync(data, ports);
            Assert.Contains(option, error, StringComparison.Ordinal);
            Assert.Contains(busy, error, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    [Theory]
    [InlineData("a-file", "is a file, not a folder")]
    [InlineData("below-a-file", "is a file, not a folder")]
    [InlineData("under-proc", "cannot be used as the data folder")]
    public async Task A_data_folder_that_cannot_be_a_folder_ends_the_start_with_one_line(string where, string expected)
    {
        var work = TempDirectory.Create("startup-data");
        try
        {
            var file = Path.Combine(work, "not-a-folder");
            await File.WriteAllTextAsync(file, "x");
            var data = where switch
            {
                "a-file" => file,
                "below-a-file" => Path.Combine(file, "data"),
                _ => $"/proc/connected-registry-{Guid.NewGuid():N}",
            };

            var error = await StartFailsAsync(data);
            Assert.Contains("--data (REGISTRY_DATA)", error, StringComparison.Ordinal);
            Assert.Contains(data, error, StringComparison.Ordinal);
            Assert.Contains(expected, error, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(work);
        }
    }

    [Fact]
    public async Task A_read_only_data_volume_ends_the_start_with_one_line_asking_for_a_read_write_mount()
    {
        await using var volume = await TmpfsVolume.MountAsync("startup-ro", 4);
        await volume.RemountReadOnlyAsync();

        var error = await StartFailsAsync(volume.Path);
        Assert.Contains($"--data (REGISTRY_DATA): '{volume.Path}' is on a read-only file system; mount the volume read-write", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_full_data_volume_ends_the_start_with_one_line_naming_the_free_bytes()
    {
        await using var volume = await TmpfsVolume.MountAsync("startup-full", 1);
        volume.Fill();

        var error = await StartFailsAsync(volume.Path);
        Assert.Matches(@$"--data \(REGISTRY_DATA\): the volume of '{System.Text.RegularExpressions.Regex.Escape(volume.Path)}' is full \(\d+ bytes free, the registry needs 1048576 to start\); free space on it", error);
    }

    [Fact]
    public async Task A_data_folder_of_another_user_ends_the_start_with_one_line_naming_the_uid_to_give_it_to()
    {
        var data = TempDirectory.Create("startup-owner"); // root's, 0755: the container case of a host folder made by root
        try
        {
            var error = await StartFailsAsync(data, asUser: OtherUser);
            Assert.Contains($"--data (REGISTRY_DATA): '{data}' is not writable by the user the registry runs as (uid {OtherUser}, gid {OtherUser})", error, StringComparison.Ordinal);
            Assert.Contains($"chown -R {OtherUser}:{OtherUser} {data}", error, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFileSystemEntries(data));
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    [Fact]
    public async Task A_file_of_another_user_in_the_data_folder_ends_the_start_with_one_line_naming_it()
    {
        // The folder is the registry's, a database in it still root's (a registry that once ran as root).
        var data = TempDirectory.Create("startup-owner-file");
        try
        {
            var database = Path.Combine(data, "registry.db");
            await File.WriteAllBytesAsync(database, []);
            await Tools.RunAsync("chown", [$"{OtherUser}:{OtherUser}", data]);

            var error = await StartFailsAsync(data, asUser: OtherUser);
            Assert.Contains($"'{database}' is not writable by the user the registry runs as (uid {OtherUser}", error, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    [Theory]
    [InlineData("registry.db", "the database")]
    [InlineData("sync.db", "the database")]
    [InlineData("hierarchy.db", "the database")]
    [InlineData("auth/token-signing.key", "the token signing key")]
    public async Task A_damaged_file_in_the_data_folder_ends_the_start_with_one_line_naming_it(string file, string what)
    {
        var data = TempDirectory.Create("startup-damaged");
        try
        {
            var path = Path.Combine(data, file);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, file.EndsWith(".key", StringComparison.Ordinal) ? "short" : "this is not what the registry wrote here, nor any SQLite file");

            var error = await StartFailsAsync(data);
            Assert.Contains($"--data (REGISTRY_DATA): {what} '{path}' is damaged", error, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    [Fact]
    public async Task A_registry_database_of_a_newer_schema_ends_the_start_with_one_line_naming_both_versions()
    {
        // What a device sees after going back to an older module than the one that last wrote its data root: that
        // module's schema is not this one's, and nothing here may write to it.
        var data = TempDirectory.Create("startup-newer-schema");
        try
        {
            var database = Path.Combine(data, "registry.db");
            TestDatabase.Execute(database, "CREATE TABLE schema_info(version INTEGER NOT NULL); INSERT INTO schema_info(version) VALUES (99);");

            var error = await StartFailsAsync(data);
            Assert.Contains($"--data (REGISTRY_DATA): the database '{database}' was written by a newer version of this module (schema version 99; this one reads up to 1)", error, StringComparison.Ordinal);
            Assert.Equal(0, TestDatabase.Scalar(database, "SELECT COUNT(*) FROM sqlite_master WHERE name='manifests'")); // refused before anything was created in it
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    [Theory]
    [InlineData("--upload-max-age", "abc", "--upload-max-age (REGISTRY_UPLOAD_MAX_AGE) must be a duration such as 1.00:00:00 or P1D, got 'abc'")]
    [InlineData("--upload-max-sessions", "0", "--upload-max-sessions (REGISTRY_UPLOAD_MAX_SESSIONS) must be a whole number of at least 1, got '0'")]
    [InlineData("--trusted-proxies", "10.0.0.0/8,nonsense", "--trusted-proxies (REGISTRY_TRUSTED_PROXIES) must be IP addresses or CIDR ranges such as 172.16.0.0/12, separated by commas ('nonsense' is neither)")]
    [InlineData("--Twin:ReportIntervalMs", "soon", "--Twin:ReportIntervalMs (Twin__ReportIntervalMs) must be a whole number of at least 0, got 'soon'")]
    [InlineData("--Events:QueueCapacity", "many", "--Events:QueueCapacity (Events__QueueCapacity) must be a whole number of at least 1, got 'many'")]
    [InlineData("--Hierarchy:FeedWaitSeconds", "1.5", "--Hierarchy:FeedWaitSeconds (Hierarchy__FeedWaitSeconds) must be a whole number of at least 0, got '1.5'")]
    [InlineData("--tls-cert", "missing.crt", "--tls-cert (REGISTRY_TLS_CERT): the file '")]
    public async Task A_bad_option_value_ends_the_start_with_one_line_naming_the_option(string option, string value, string expected)
    {
        var data = TempDirectory.Create("startup-option");
        try
        {
            string[] args = option == "--tls-cert"
                ? ["--urls", "https://127.0.0.1:0", "--tls-cert", Path.Combine(data, value), "--tls-key", Path.Combine(data, "missing.key")]
                : [option, value];
            var error = await StartFailsAsync(data, args);
            Assert.Contains(expected, error, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    [Theory]
    [InlineData("SYNC_PARALLEL_BLOBS", "0", "--sync-parallel-blobs (SYNC_PARALLEL_BLOBS) must be a whole number from 1 to 64, got '0'.")]
    [InlineData("Events__QueueCapacity", "0", "--Events:QueueCapacity (Events__QueueCapacity) must be a whole number of at least 1, got '0'.")]
    public async Task A_bad_value_in_the_environment_ends_the_start_with_one_line_naming_the_option_and_the_variable(string variable, string value, string expected)
    {
        // Both were taken before: the first ignored, the second made 1.
        var data = TempDirectory.Create("startup-env-option");
        try
        {
            var error = await StartFailsAsync(data, environment: new Dictionary<string, string> { [variable] = value });
            Assert.Equal($"error: {expected}", error);
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    [Fact]
    public async Task A_bad_iot_edge_environment_ends_the_start_with_one_line_naming_the_variable()
    {
        var data = TempDirectory.Create("startup-edge-env");
        try
        {
            var error = await StartFailsAsync(data, environment: new Dictionary<string, string> { ["IOTEDGE_DEVICEID"] = "device-1" });
            Assert.Contains("The IoT Edge environment variable IOTEDGE_MODULEID is missing", error, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(data);
        }
    }

    [Fact]
    public async Task In_iot_edge_a_start_up_error_is_also_reported_to_edgeHub_and_the_next_good_start_removes_it()
    {
        await using var edge = await EdgeHarness.StartAsync();
        await using var volume = await TmpfsVolume.MountAsync("startup-edge", 4);
        await volume.RemountReadOnlyAsync();
        string[] twin =
        [
            "--Twin:MqttPort", edge.Hub.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--Twin:WebSocketPort", "0",
            "--Twin:ReconnectDelayMs", "50",
            "--Twin:RequestTimeoutMs", "3000",
        ];

        var started = DateTimeOffset.UtcNow;
        var error = await StartFailsAsync(volume.Path, twin, edge.EdgeEnvironment());

        var reported = Assert.IsType<JObject>(edge.Hub.Reported["startupError"]);
        Assert.Equal(error["error: ".Length..], reported.Value<string>("message"));
        Assert.InRange(DateTimeOffset.Parse(reported.Value<string>("time")!, System.Globalization.CultureInfo.InvariantCulture), started.AddSeconds(-1), DateTimeOffset.UtcNow);
        Assert.Equal("Unhealthy", edge.Hub.Reported.Value<string>("connectionState"));

        // Fixed (a writable data folder): the module starts, and its reported properties no longer hold the error.
        await edge.StartModuleAsync();
        await Poll.UntilAsync(() => edge.Hub.Reported["startupError"] is null && edge.Hub.Reported.Value<string>("connectionState") != "Unhealthy", "the start-up error removed from the reported properties");
    }

    /// <summary>
    /// Runs the module's executable (as <paramref name="asUser"/> when given) on <paramref name="data"/> and returns its
    /// one line on stderr, after asserting that it is the only one, is no stack trace, and the exit code is 2.
    /// </summary>
    private static async Task<string> StartFailsAsync(string data, IEnumerable<string>? args = null, IReadOnlyDictionary<string, string>? environment = null, int? asUser = null)
    {
        var (file, moduleArgs) = Tools.ModuleCommand(["--data", data, "--urls", "http://127.0.0.1:0", "--metrics-urls", "",
            "--desired", Path.Combine(Path.GetTempPath(), $"startup-desired-{Guid.NewGuid():N}.json"), "--reported", Path.Combine(Path.GetTempPath(), $"startup-reported-{Guid.NewGuid():N}.json"),
            .. args ?? []]);
        List<string> command = [.. moduleArgs];
        if (asUser is { } uid)
        {
            command.InsertRange(0, [$"--reuid={uid}", $"--regid={uid}", "--clear-groups", file]);
            file = "setpriv";
        }

        var started = System.Diagnostics.Stopwatch.StartNew();
        var (exit, _, stderr) = await Tools.RunToExitAsync(file, command, environment, limit: TimeSpan.FromSeconds(60));

        Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.True(exit == 2, $"exit code {exit}: {line}");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), $"took {started.Elapsed}");
        return line;
    }
}
