using System.Diagnostics;
using ConnectedRegistry.Core;
using ConnectedRegistry.Identity;
using ConnectedRegistry.Twin;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet.Formatter;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.IntegrationTests.Twin;

/// <summary>The real module against a test edgeHub (MQTTnet server over TLS) and workload API (Unix socket).</summary>
public sealed class ModuleTwinOverMqttTests : IAsyncLifetime
{
    private EdgeHarness _edge = null!;

    public async Task InitializeAsync()
    {
        _edge = await EdgeHarness.StartAsync();
        _edge.Hub.SetDesired(TwinJson.ParseObject("""{ "schemaVersion": "1.0", "name": "factory-line-1", "sync": { "repositories": ["factory/*"] } }"""), 5);
    }

    public async Task DisposeAsync() => await _edge.DisposeAsync();

    private JObject Reported => _edge.Hub.Reported;

    [Fact]
    public async Task First_connect_uses_the_module_identity_and_applies_the_whole_twin()
    {
        var module = await _edge.StartModuleAsync();

        // Start-up waits for the first twin: the registry serves with the twin's settings from its first request.
        Assert.Equal("factory-line-1", _edge.Settings.Current.Name);
        Assert.Equal(["factory/*"], _edge.Settings.Current.Sync.Repositories);

        var connect = Assert.Single(_edge.Hub.AcceptedConnects);
        Assert.Equal($"{EdgeHarness.DeviceId}/{EdgeHarness.ModuleId}", connect.ClientId);
        Assert.StartsWith($"{EdgeHarness.HubName}/{EdgeHarness.DeviceId}/{EdgeHarness.ModuleId}/?api-version=2020-09-30&DeviceClientType=EdgeConnectedRegistry%2F", connect.UserName, StringComparison.Ordinal);
        Assert.Equal(MqttProtocolVersion.V311, connect.ProtocolVersion);
        Assert.False(connect.CleanSession);
        Assert.Equal((ushort)300, connect.KeepAlive);
        Assert.True(connect.Secure);
        Assert.True(_edge.Workload.SignRequests >= 1);
        Assert.True(_edge.Workload.TrustBundleRequests >= 1);
        Assert.Equal(1, _edge.Hub.TwinGets);

        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == 5 && Reported["loginServer"] is JObject, "reported state");
        Assert.Equal(200, Reported["lastDesiredStatus"]!["code"]!.Value<int>());
        Assert.Equal(module.HostPort, Reported["loginServer"]!["host"]!.Value<string>());
        Assert.Equal("Disabled", Reported["loginServer"]!["tls"]!.Value<string>());
        Assert.Equal("1.0", Reported["schemaVersion"]!.Value<string>());
        Assert.NotNull(Reported["storage"]);
    }

    [Fact]
    public async Task Desired_patches_apply_in_order_within_a_second_and_are_reported()
    {
        await _edge.StartModuleAsync();
        await Poll.UntilAsync(() => _edge.Settings.Current.Name == "factory-line-1", "first twin");
        var applied = new List<RegistrySettings>();
        _edge.Settings.Changed += s =>
        {
            lock (applied)
            {
                applied.Add(s);
            }
        };

        var watch = Stopwatch.StartNew();
        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "anonymousPull": true }"""));
        await Poll.UntilAsync(() => _edge.Settings.Current.AnonymousPull, "patch 6 applied", TimeSpan.FromSeconds(1));
        Assert.True(watch.ElapsedMilliseconds < 1000, $"applied after {watch.ElapsedMilliseconds} ms");

        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "mode": "ReadOnly" }"""));
        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "anonymousPull": null, "sync": { "window": "PT2H" } }"""));
        await Poll.UntilAsync(() => _edge.Settings.Current.Sync.Window == TimeSpan.FromHours(2), "patch 8 applied", TimeSpan.FromSeconds(1));

        var final = _edge.Settings.Current;
        Assert.Equal(RegistryMode.ReadOnly, final.Mode);
        Assert.False(final.AnonymousPull);
        Assert.Equal(["factory/*"], final.Sync.Repositories);
        lock (applied)
        {
            Assert.Equal(3, applied.Count);
            Assert.True(applied[0].AnonymousPull && applied[0].Mode == RegistryMode.ReadWrite);
            Assert.True(applied[1].AnonymousPull && applied[1].Mode == RegistryMode.ReadOnly);
        }

        Assert.Equal(1, _edge.Hub.TwinGets);
        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == 8, "version 8 reported");
    }

    [Fact]
    public async Task A_version_gap_makes_the_module_get_the_whole_twin()
    {
        await _edge.StartModuleAsync();
        await Poll.UntilAsync(() => _edge.Settings.Current.Name == "factory-line-1", "first twin");

        _edge.Hub.ChangeDesiredSilently(TwinJson.ParseObject("""{ "mode": "ReadOnly" }""")); // version 6 never arrives
        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "anonymousPull": true }""")); // version 7

        await Poll.UntilAsync(() => _edge.Settings.Current.Mode == RegistryMode.ReadOnly && _edge.Settings.Current.AnonymousPull, "both changes applied");
        Assert.Equal(2, _edge.Hub.TwinGets);
        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == 7, "version 7 reported");
    }

    [Fact]
    public async Task Stale_patches_are_ignored()
    {
        await _edge.StartModuleAsync();
        await Poll.UntilAsync(() => _edge.Settings.Current.Name == "factory-line-1", "first twin");

        await _edge.Hub.SendDesiredPatchAsync(TwinJson.ParseObject("""{ "mode": "ReadOnly" }"""), 5);
        await _edge.Hub.SendDesiredPatchAsync(TwinJson.ParseObject("""{ "name": "stale-name" }"""), 3);
        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "anonymousPull": true }""")); // version 6

        await Poll.UntilAsync(() => _edge.Settings.Current.AnonymousPull, "version 6 applied");
        Assert.Equal(RegistryMode.ReadWrite, _edge.Settings.Current.Mode);
        Assert.Equal("factory-line-1", _edge.Settings.Current.Name);
        Assert.Equal(1, _edge.Hub.TwinGets);
    }

    [Fact]
    public async Task An_invalid_patch_keeps_the_last_good_settings_and_reports_400_with_every_reason()
    {
        await _edge.StartModuleAsync();
        await Poll.UntilAsync(() => _edge.Settings.Current.Name == "factory-line-1", "first twin");
        var good = _edge.Settings.Current;

        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "mode": "Sideways", "sync": { "window": "PT1M", "messageTtl": "P100D" } }"""));

        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == 6, "version 6 reported");
        var status = Reported["lastDesiredStatus"]!;
        Assert.Equal(400, status["code"]!.Value<int>());
        Assert.Equal(
            "rejected, the last good settings stay in force: mode 'Sideways' must be ReadWrite or ReadOnly; sync.window 'PT1M' must be a duration from PT1H to P7D, such as 01:00:00 or PT1H; sync.messageTtl 'P100D' must be a duration from P1D to P90D, such as 2.00:00:00 or P2D",
            status["description"]!.Value<string>());
        Assert.Same(good, _edge.Settings.Current);

        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "mode": "ReadOnly", "sync": { "window": "PT1H", "messageTtl": "P10D" } }"""));
        await Poll.UntilAsync(() => _edge.Settings.Current.Mode == RegistryMode.ReadOnly, "fixed document applied");
        await Poll.UntilAsync(() => Reported["lastDesiredStatus"]?["code"]?.Value<int>() == 200, "200 reported");
    }

    [Fact]
    public async Task A_patch_with_a_number_no_decimal_holds_is_reported_rejected_naming_the_member_and_the_next_patch_applies()
    {
        await _edge.StartModuleAsync();
        await Poll.UntilAsync(() => _edge.Settings.Current.Name == "factory-line-1", "first twin");
        var good = _edge.Settings.Current;

        var version = await _edge.Hub.PushRawDesiredPatchAsync("""{ "mode": "ReadOnly", "storage": { "minFreeBytes": 1e400 } }""");

        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == version, $"version {version} reported");
        var status = Reported["lastDesiredStatus"]!;
        Assert.Equal(400, status["code"]!.Value<int>());
        Assert.Equal("rejected, the last good settings stay in force: storage.minFreeBytes: the number is out of range", status["description"]!.Value<string>());
        Assert.Same(good, _edge.Settings.Current);

        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "anonymousPull": true }"""));
        await Poll.UntilAsync(() => _edge.Settings.Current.AnonymousPull, "the next patch applied");
        Assert.Equal(1, _edge.Hub.TwinGets); // in order: no version gap, no second GET
    }

    [Fact]
    public async Task A_whole_twin_with_a_number_no_decimal_holds_is_reported_rejected_and_the_connection_stays_for_the_next_patch()
    {
        _edge.Hub.SetDesired(TwinJson.ParseObject("""{ "schemaVersion": "1.0", "name": "factory-line-1", "storage": { "minFreeBytes": 123456789 } }"""), 5);
        _edge.Hub.RewriteTwin = body => body.Replace("123456789", "1e400", StringComparison.Ordinal);
        await _edge.StartModuleAsync();

        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == 5, "version 5 reported");
        var status = Reported["lastDesiredStatus"]!;
        Assert.Equal(400, status["code"]!.Value<int>());
        Assert.Equal("rejected, no settings are in force yet, so every request but /v2/ answers 503: storage.minFreeBytes: the number is out of range", status["description"]!.Value<string>());

        _edge.Hub.RewriteTwin = null;
        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "storage": { "minFreeBytes": 1048576 }, "anonymousPull": true }"""));
        await Poll.UntilAsync(() => _edge.Settings.Current.AnonymousPull, "the next patch applied");
        Assert.Equal(1, _edge.Hub.TwinGets); // the module did not reconnect over the document
    }

    [Fact]
    public async Task An_edgeHub_restart_makes_the_module_reconnect_and_get_the_whole_twin()
    {
        await _edge.StartModuleAsync();
        await Poll.UntilAsync(() => _edge.Settings.Current.Name == "factory-line-1", "first twin");

        await _edge.Hub.StopAsync();
        _edge.Hub.ChangeDesiredSilently(TwinJson.ParseObject("""{ "mode": "ReadOnly" }"""));
        await Task.Delay(300);
        await _edge.Hub.StartAsync();

        await Poll.UntilAsync(() => _edge.Settings.Current.Mode == RegistryMode.ReadOnly, "change made while away applied");
        Assert.Equal(2, _edge.Hub.AcceptedConnects.Count);
        Assert.Equal(2, _edge.Hub.TwinGets);

        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "anonymousPull": true }"""));
        await Poll.UntilAsync(() => _edge.Settings.Current.AnonymousPull, "patches flow again after the reconnect");
    }

    [Fact]
    public async Task A_module_restarted_while_edgeHub_is_down_serves_with_the_last_good_settings()
    {
        await _edge.StartModuleAsync();
        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "anonymousPull": true }"""));
        await Poll.UntilAsync(() => _edge.Settings.Current.AnonymousPull, "patch applied");
        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "mode": "Broken" }""")); // rejected: not remembered
        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == 7, "rejection reported");
        var dataRoot = await _edge.StopModuleAsync();
        await _edge.Hub.StopAsync();

        await _edge.StartModuleAsync(dataRoot: dataRoot, extraArgs: ["--Twin:InitialTwinTimeoutMs", "300"]);

        Assert.Equal("factory-line-1", _edge.Settings.Current.Name);
        Assert.True(_edge.Settings.Current.AnonymousPull);
        Assert.Equal(RegistryMode.ReadWrite, _edge.Settings.Current.Mode);

        _edge.Hub.ChangeDesiredSilently(TwinJson.ParseObject("""{ "mode": "ReadOnly" }"""));
        await _edge.Hub.StartAsync();
        await Poll.UntilAsync(() => _edge.Settings.Current.Mode == RegistryMode.ReadOnly, "the twin applied once edgeHub is back");
    }

    [Fact]
    public async Task The_token_is_renewed_by_reconnecting_before_it_expires()
    {
        // A 6 s token is renewed when 0.9 s of it remain: the new connection must be up before the old token expires.
        await _edge.StartModuleAsync(extraArgs: ["--Twin:SasTokenTtlSeconds", "6"]);

        await Poll.UntilAsync(() => _edge.Hub.AcceptedConnects.Count >= 2, "a second connection with a fresh token", TimeSpan.FromSeconds(12));

        var connects = _edge.Hub.AcceptedConnects;
        Assert.DoesNotContain(_edge.Hub.Connects, c => !c.Accepted);
        Assert.True(connects[1].At < connects[0].TokenExpiry, $"reconnected at {connects[1].At:O}, the first token expired at {connects[0].TokenExpiry:O}");
        Assert.True(connects[1].TokenExpiry > connects[0].TokenExpiry);
        Assert.NotEqual(connects[0].Password, connects[1].Password);
        Assert.True(_edge.Workload.SignRequests >= 2);
    }

    [Fact]
    public async Task Signing_failures_of_the_workload_api_are_retried()
    {
        _edge.Workload.FailNextSigns(2);

        await _edge.StartModuleAsync();

        await Poll.UntilAsync(() => _edge.Settings.Current.Name == "factory-line-1", "connected after the signing errors");
        Assert.True(_edge.Workload.SignRequests >= 3);
    }

    [Fact]
    public async Task Reported_patches_are_batched_and_rate_limited()
    {
        await _edge.StartModuleAsync(reportIntervalMs: 1000);
        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == 5 && Reported["loginServer"] is JObject, "initial report");
        await Task.Delay(1100);
        var before = _edge.Hub.ReportedPatches.Count;

        for (var i = 1; i <= 200; i++)
        {
            _edge.State.SetStorage(new StorageStatus(UsedBytes: i * 10, Blobs: i));
        }

        await Poll.UntilAsync(() => Reported["storage"]?["blobs"]?.Value<long>() == 200, "the last value reported");
        await Task.Delay(1500);

        var patches = _edge.Hub.ReportedPatches.Skip(before).ToList();
        Assert.InRange(patches.Count, 1, 2);
        var last = patches[^1].Patch;
        Assert.Equal(new[] { "storage" }, last.Properties().Select(p => p.Name));
        Assert.Equal(2000, last["storage"]!["usedBytes"]!.Value<long>());
        // Spacing as seen at edgeHub: arrival times carry delivery jitter on a loaded machine, so the bound is half
        // the interval. Without the rate limit the 200 changes would arrive milliseconds apart.
        var all = _edge.Hub.ReportedPatches;
        for (var i = 1; i < all.Count; i++)
        {
            Assert.True(all[i].At - all[i - 1].At >= TimeSpan.FromMilliseconds(500), $"patches {i - 1} and {i} only {(all[i].At - all[i - 1].At).TotalMilliseconds} ms apart");
        }
    }

    [Fact]
    public async Task A_throttled_reported_patch_is_retried_until_confirmed()
    {
        _edge.Hub.ThrottleNextReported(2);

        await _edge.StartModuleAsync();

        await Poll.UntilAsync(() => Reported["lastDesiredVersion"]?.Value<long>() == 5, "reported after two 429 answers");
    }

    [Fact]
    public async Task Direct_methods_answer_with_their_request_id_and_status()
    {
        await _edge.StartModuleAsync();
        await Poll.UntilAsync(() => _edge.Settings.Current.Name == "factory-line-1", "first twin");

        var (status, body) = await _edge.Hub.InvokeMethodAsync("getStatus", "");
        Assert.Equal(200, status);
        Assert.Equal("IoT Edge", body["module"]!["mode"]!.Value<string>());
        Assert.True(body["module"]!["twinConnected"]!.Value<bool>());
        Assert.Equal("factory-line-1", body["settings"]!["name"]!.Value<string>());
        Assert.Equal(5, body["desired"]!["version"]!.Value<long>());
        Assert.Contains("garbageCollect", body["methods"]!.Values<string>());
        Assert.Equal("1.0", body["reported"]!["schemaVersion"]!.Value<string>());

        var (unknownStatus, unknownBody) = await _edge.Hub.InvokeMethodAsync("selfDestruct", "{}");
        Assert.Equal(404, unknownStatus);
        Assert.Equal("MethodNotFound", unknownBody["error"]!["code"]!.Value<string>());

        var (badStatus, badBody) = await _edge.Hub.InvokeMethodAsync("getStatus", "{not json");
        Assert.Equal(400, badStatus);
        Assert.Equal("BadPayload", badBody["error"]!["code"]!.Value<string>());

        var concurrent = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => _edge.Hub.InvokeMethodAsync("getStatus", "{}")));
        Assert.All(concurrent, r => Assert.Equal(200, r.Status));
    }

    [Fact]
    public async Task Password_hashes_from_the_twin_never_appear_in_reported_properties_or_status()
    {
        const string hash = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=";
        await _edge.StartModuleAsync();
        await _edge.Hub.PushDesiredPatchAsync(new JObject
        {
            ["clientTokens"] = new JObject { ["puller"] = new JObject { ["passwordHash"] = hash, ["scopeMap"] = new JObject { ["factory/*"] = new JArray("content/read") } } },
            ["children"] = new JObject { ["cell-three"] = new JObject { ["syncTokenPasswordHash"] = hash, ["repositories"] = new JArray("factory/*") } },
            ["mode"] = "Sideways", // rejected: the 400 description must not echo the hashes either
        });
        await Poll.UntilAsync(() => Reported["lastDesiredStatus"]?["code"]?.Value<int>() == 400, "rejection reported");
        await _edge.Hub.PushDesiredPatchAsync(TwinJson.ParseObject("""{ "mode": "ReadOnly" }"""));
        await Poll.UntilAsync(() => _edge.Settings.Current.ClientTokens.ContainsKey("puller"), "tokens applied");

        var (_, status) = await _edge.Hub.InvokeMethodAsync("getStatus", "");

        Assert.Contains("puller", status.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("YHud+y1f8w7utK4a8AEc", status.ToString(), StringComparison.Ordinal);
        Assert.All(_edge.Hub.ReportedPatches, p => Assert.DoesNotContain("YHud+y1f8w7utK4a8AEc", p.Patch.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Garbage_collect_runs_the_registered_collector()
    {
        var collector = new RecordingCollector();
        var env = _edge.EdgeEnvironment();
        var args = new[]
        {
            "--Twin:MqttPort", _edge.Hub.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--Twin:WebSocketPort", "0",
        };
        await using var module = await RegistryInstance.StartAsync(extraArgs: args, configure: b =>
        {
            b.Services.AddSingleton(new ModuleEnvironment(env));
            b.Services.AddSingleton<IGarbageCollector>(collector);
        });
        try
        {
            await Poll.UntilAsync(() => _edge.Hub.TwinGets >= 1, "connected");

            var (status, body) = await _edge.Hub.InvokeMethodAsync("garbageCollect", "");

            Assert.Equal(200, status);
            Assert.Equal(1, collector.Calls);
            Assert.Equal(7, body["blobsDeleted"]!.Value<int>());
        }
        finally
        {
            module.DeleteData();
        }
    }

    [Fact]
    public async Task Connection_string_mode_signs_locally_and_trusts_the_given_ca_file()
    {
        var folder = TempDirectory.Create("twin-ca");
        try
        {
            var caFile = Path.Combine(folder, "edge-ca.pem");
            await File.WriteAllTextAsync(caFile, _edge.Pki.CaPem);
            var env = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["EdgeHubConnectionString"] = $"HostName={EdgeHarness.HubName};DeviceId={EdgeHarness.DeviceId};ModuleId={EdgeHarness.ModuleId};SharedAccessKey={Convert.ToBase64String(_edge.ModuleKey)};GatewayHostName=localhost",
                ["EdgeModuleCACertificateFile"] = caFile,
            };

            await _edge.StartModuleAsync(env);

            await Poll.UntilAsync(() => _edge.Settings.Current.Name == "factory-line-1", "twin applied");
            Assert.Single(_edge.Hub.AcceptedConnects);
            Assert.Equal(0, _edge.Workload.SignRequests);
            Assert.Equal(0, _edge.Workload.TrustBundleRequests);
        }
        finally
        {
            TempDirectory.Delete(folder);
        }
    }

    [Fact]
    public async Task A_missing_environment_variable_stops_start_up_with_an_error_naming_it()
    {
        var env = _edge.EdgeEnvironment();
        env.Remove("IOTEDGE_MODULEGENERATIONID");

        var error = await Assert.ThrowsAsync<ModuleConfigurationException>(() => _edge.StartModuleAsync(env));

        Assert.Contains("IOTEDGE_MODULEGENERATIONID", error.Message, StringComparison.Ordinal);
        Assert.Empty(_edge.Hub.Connects);
    }

    private sealed class RecordingCollector : IGarbageCollector
    {
        public int Calls { get; private set; }

        public Task<GarbageCollectionResult> CollectAsync(CancellationToken cancellationToken)
        {
            Calls++;
            return Task.FromResult(new GarbageCollectionResult(7, 1024, 0, TimeSpan.FromMilliseconds(12)));
        }
    }
}

/// <summary>edgeHub presenting a certificate from a CA the module was not given.</summary>
public sealed class UntrustedEdgeHubTests
{
    [Fact]
    public async Task A_server_certificate_from_another_ca_is_refused()
    {
        await using var edge = await EdgeHarness.StartAsync(edgeHubCertificateIssuer: TestPki.Create("Some Other CA"));

        await edge.StartModuleAsync(extraArgs: ["--Twin:InitialTwinTimeoutMs", "300"]);
        await Task.Delay(1500);

        Assert.Empty(edge.Hub.Connects);
        Assert.Equal(RegistrySettings.Default.Mode, edge.Settings.Current.Mode);
        Assert.Null(edge.Settings.Current.Name);
    }
}

/// <summary>When edgeHub's MQTT port cannot be reached the module falls back to MQTT over a secure WebSocket.</summary>
public sealed class WebSocketFallbackTests
{
    [Fact]
    public async Task The_module_connects_over_a_secure_websocket_when_the_mqtt_port_is_closed()
    {
        await using var edge = await EdgeHarness.StartAsync();
        edge.Hub.SetDesired(TwinJson.ParseObject("""{ "name": "over-websocket" }"""), 2);
        await using var bridge = await WebSocketBridge.StartAsync(edge.Pki.Server, edge.Pki.Ca, edge.Hub.Port);
        var closedPort = FreePortNobodyListensOn();

        await edge.StartModuleAsync(extraArgs:
        [
            "--Twin:MqttPort", closedPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--Twin:WebSocketPort", bridge.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ]);

        await Poll.UntilAsync(() => edge.Settings.Current.Name == "over-websocket", "twin applied over the WebSocket");
        Assert.True(bridge.Sessions >= 1);
        Assert.Single(edge.Hub.AcceptedConnects);
    }

    [Fact]
    public async Task The_websocket_fallback_also_refuses_a_certificate_from_another_ca()
    {
        await using var edge = await EdgeHarness.StartAsync();
        var other = TestPki.Create("Some Other CA");
        await using var bridge = await WebSocketBridge.StartAsync(other.Server, edge.Pki.Ca, edge.Hub.Port);

        await edge.StartModuleAsync(extraArgs:
        [
            "--Twin:MqttPort", FreePortNobodyListensOn().ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--Twin:WebSocketPort", bridge.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--Twin:InitialTwinTimeoutMs", "300",
        ]);
        await Task.Delay(1500);

        Assert.Equal(0, bridge.Sessions);
        Assert.Empty(edge.Hub.Connects);
    }

    private static int FreePortNobodyListensOn()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
