using ConnectedRegistry.Core;
using ConnectedRegistry.Tls;
using ConnectedRegistry.Twin;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Tests.Twin;

public class ReportedPropertiesTests
{
    [Fact]
    public void The_reported_document_holds_every_section_of_the_schema()
    {
        var state = new ModuleState();
        var now = new DateTimeOffset(2026, 5, 6, 7, 8, 9, TimeSpan.Zero);
        state.SetActivationState(ActivationStates.Active);
        state.SetConnectionState(ConnectionStates.Syncing);
        state.SetLoginServer(new LoginServerStatus("edge-device:8080", "Disabled"));
        state.SetStatusDetail(new StatusDetail("DiskError", "Error", "disk full", now));
        state.SetSync(new SyncStatus { LastSyncTime = now, PendingPushes = 2, Progress = new SyncProgress("Running", 3, 7, 100, 400, 120) });
        state.SetStorage(new StorageStatus(10, 20, 3, 1));
        state.SetChild("cell-three", new ChildStatus(ActivationStates.Active, now));

        var reported = ReportedProperties.Build(state.Snapshot(), new DesiredStatus(7, 200, "applied"));

        Assert.Equal("1.0", reported["schemaVersion"]!.Value<string>());
        Assert.Equal(ReportedProperties.ModuleVersion, reported["version"]!.Value<string>());
        Assert.Equal(7, reported["lastDesiredVersion"]!.Value<long>());
        Assert.Equal(200, reported["lastDesiredStatus"]!["code"]!.Value<int>());
        Assert.Equal("Active", reported["activationState"]!.Value<string>());
        Assert.Equal("Syncing", reported["connectionState"]!.Value<string>());
        Assert.Equal("DiskError", reported["statusDetails"]![0]!["code"]!.Value<string>());
        Assert.Equal("2026-05-06T07:08:09Z", reported["statusDetails"]![0]!["timestamp"]!.Value<string>());
        Assert.Equal("edge-device:8080", reported["loginServer"]!["host"]!.Value<string>());
        Assert.Equal(2, reported["sync"]!["pendingPushes"]!.Value<int>());
        Assert.Equal(120, reported["sync"]!["progress"]!["etaSeconds"]!.Value<long>());
        Assert.Equal(3, reported["storage"]!["blobs"]!.Value<long>());
        Assert.Equal("Active", reported["children"]!["cell-three"]!["activationState"]!.Value<string>());
    }

    [Fact]
    public void A_huge_state_is_trimmed_well_under_the_twin_limit()
    {
        var state = new ModuleState();
        var now = DateTimeOffset.UnixEpoch;
        for (var i = 0; i < 1000; i++)
        {
            state.SetChild($"child-registry-with-a-long-name-{i:D4}", new ChildStatus(ActivationStates.Active, now));
        }

        for (var i = 0; i < 30; i++)
        {
            state.SetStatusDetail(new StatusDetail($"Code{i:D2}", "Warning", new string('x', 5000), now));
        }

        var reported = ReportedProperties.Build(state.Snapshot(), new DesiredStatus(1, 400, new string('e', 20_000)), maxBytes: 16 * 1024);

        Assert.True(ReportedProperties.Size(reported) < 16 * 1024, $"size {ReportedProperties.Size(reported)}");
        Assert.Equal(ReportedProperties.MaxStatusDetails, ((JArray)reported["statusDetails"]!).Count);
        Assert.True(reported["childrenOmitted"]!.Value<int>() >= 950);
    }

    [Fact]
    public void Twin_keys_lose_characters_the_twin_forbids()
    {
        Assert.Equal("a_b_c_d", ReportedProperties.TwinKey("a.b$c d"));
    }

    [Fact]
    public void Get_status_describes_settings_without_password_hashes()
    {
        var settings = DesiredPropertiesParser.Parse(TwinJson.ParseObject("""
        { "name": "line-one",
          "clientTokens": { "puller": { "passwordHash": "pbkdf2-sha256$100000$c2VjcmV0aGFzaHZhbHVl$c2VjcmV0aGFzaHZhbHVlc2VjcmV0aGFzaHZhbHVl", "scopeMap": { "a/*": ["content/read"] } } },
          "children": { "cell-three": { "syncTokenPasswordHash": "pbkdf2-sha256$100000$Y2hpbGRzZWNyZXQx$Y2hpbGRzZWNyZXRjaGlsZHNlY3JldGNoaWxkc2VjcmV0", "repositories": ["a/*"] } } }
        """)).Settings!;

        var text = GetStatusMethod.Describe(settings).ToString();

        Assert.Contains("puller", text, StringComparison.Ordinal);
        Assert.Contains("cell-three", text, StringComparison.Ordinal);
        Assert.DoesNotContain("c2VjcmV0aGFzaHZhbHVl", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Y2hpbGRzZWNyZXQx", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://127.0.0.1:5000", "127.0.0.1:5000", "Disabled")]
    [InlineData("https://registry.local:8443", "registry.local:8443", "Enabled")]
    public void The_login_server_comes_from_the_listen_address(string address, string host, string tls)
    {
        Assert.Equal(new LoginServerStatus(host, tls), LoginServer.FromAddress(address));
    }

    [Theory]
    [InlineData("http://0.0.0.0:8080")]
    [InlineData("http://[::]:8080")]
    [InlineData("http://+:8080")]
    public void A_wildcard_listen_address_reports_the_host_name(string address)
    {
        Assert.Equal(new LoginServerStatus(Environment.MachineName.ToLowerInvariant() + ":8080", "Disabled"), LoginServer.FromAddress(address));
    }
}
