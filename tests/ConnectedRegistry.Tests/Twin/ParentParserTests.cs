using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;

namespace ConnectedRegistry.Tests.Twin;

/// <summary><c>parent</c> in the desired properties: the endpoint (credentials refused, nested-edge placeholders resolved) and the trusted realm hosts.</summary>
public class ParentParserTests
{
    private static DesiredParseResult Parse(string json) => DesiredPropertiesParser.Parse(TwinJson.ParseObject(json));

    [Fact]
    public void Trusted_realm_hosts_are_host_names_kept_once_in_lower_case_and_none_by_default()
    {
        var result = Parse("""{ "parent": { "endpoint": "https://myregistry.example", "trustedRealmHosts": ["Auth.Example", "auth.example", "10.1.2.3", "[fd00::1]"] } }""");
        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
        Assert.Equal(["auth.example", "10.1.2.3", "[fd00::1]"], result.Settings!.Parent!.TrustedRealmHosts);
        Assert.Empty(Parse("""{ "parent": { "endpoint": "https://myregistry.example" } }""").Settings!.Parent!.TrustedRealmHosts);
    }

    [Theory]
    [InlineData("\"auth.example\"", "parent.trustedRealmHosts must be an array of strings")]
    [InlineData("[\"https://auth.example\"]", "parent.trustedRealmHosts: 'https://auth.example' is not a host name (no scheme, port, path or wildcard)")]
    [InlineData("[\"auth.example:443\"]", "parent.trustedRealmHosts: 'auth.example:443' is not a host name (no scheme, port, path or wildcard)")]
    [InlineData("[\"*.example\"]", "parent.trustedRealmHosts: '*.example' is not a host name (no scheme, port, path or wildcard)")]
    [InlineData("[\"\"]", "parent.trustedRealmHosts: '' is not a host name (no scheme, port, path or wildcard)")]
    public void A_trusted_realm_host_that_is_not_a_host_name_is_an_error(string hosts, string error)
    {
        var result = Parse($$"""{ "parent": { "endpoint": "https://myregistry.example", "trustedRealmHosts": {{hosts}} } }""");
        Assert.Equal([error], result.Errors);
    }

    [Fact]
    public void A_parent_endpoint_with_credentials_is_rejected_without_echoing_them()
    {
        var result = Parse("""{ "parent": { "endpoint": "https://user:hunter2@parent.example" } }""");
        Assert.Equal(["parent.endpoint must not contain credentials (the sync token password comes from the environment)"], result.Errors);
        Assert.DoesNotContain("hunter2", string.Join(" ", result.Errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://$IOTEDGE_PARENTHOSTNAME:8000")]
    [InlineData("https://$upstream:8000")]
    public void A_nested_parent_endpoint_resolves_the_parent_host_name(string endpoint)
    {
        var doc = new Newtonsoft.Json.Linq.JObject { ["mode"] = "ReadOnly", ["parent"] = new Newtonsoft.Json.Linq.JObject { ["endpoint"] = endpoint } };

        var result = DesiredPropertiesParser.Parse(doc, name => name == "IOTEDGE_PARENTHOSTNAME" ? "top-layer-device" : null);

        Assert.Equal(new Uri("https://top-layer-device:8000"), result.Settings!.Parent!.Endpoint);
    }

    [Fact]
    public void A_nested_parent_endpoint_on_a_device_without_a_parent_is_an_error()
    {
        var doc = new Newtonsoft.Json.Linq.JObject { ["parent"] = new Newtonsoft.Json.Linq.JObject { ["endpoint"] = "https://$IOTEDGE_PARENTHOSTNAME:8000" } };

        Assert.Equal(["parent.endpoint uses $IOTEDGE_PARENTHOSTNAME but IOTEDGE_PARENTHOSTNAME is not set (the device is not a nested IoT Edge device)"], DesiredPropertiesParser.Parse(doc, _ => null).Errors);
    }
}
