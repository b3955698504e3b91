using Microsoft.Extensions.Logging;
using ConnectedRegistry.Core;
using ConnectedRegistry.Twin;
using Microsoft.Extensions.Logging.Abstractions;

namespace ConnectedRegistry.Tests.Twin;

public class DesiredPropertiesPipelineTests
{
    private readonly RegistrySettingsStore _store = new();
    private readonly LogLevelSwitch _logLevel = new();
    private readonly ModuleState _state = new();
    private readonly DesiredPropertiesPipeline _pipeline;
    private readonly List<RegistrySettings> _applied = [];

    public DesiredPropertiesPipelineTests()
    {
        _pipeline = new DesiredPropertiesPipeline(_store, NullLogger<DesiredPropertiesPipeline>.Instance, _logLevel, state: _state);
        _store.Changed += _applied.Add;
    }

    [Fact]
    public void A_valid_full_document_is_applied_and_reported_as_200()
    {
        var status = _pipeline.ApplyFull(TwinJson.ParseObject("""{ "$version": 3, "name": "line-one", "mode": "ReadOnly" }"""), 3);

        Assert.Equal(new DesiredStatus(3, 200, "applied"), status);
        Assert.Equal(RegistryMode.ReadOnly, _store.Current.Mode);
        Assert.Single(_applied);
    }

    [Fact]
    public void An_invalid_patch_keeps_the_last_good_settings_and_lists_every_reason()
    {
        _pipeline.ApplyFull(TwinJson.ParseObject("""{ "name": "line-one", "sync": { "window": "PT2H" } }"""), 1);
        var good = _store.Current;

        var status = _pipeline.ApplyPatch(TwinJson.ParseObject("""{ "mode": "Upside", "sync": { "window": "PT1M" } }"""), 2);

        Assert.Equal(400, status.Code);
        Assert.Equal(2, status.Version);
        Assert.Equal("rejected, the last good settings stay in force: mode 'Upside' must be ReadWrite or ReadOnly; sync.window 'PT1M' must be a duration from PT1H to P7D, such as 01:00:00 or PT1H", status.Description);
        Assert.Same(good, _store.Current);
        Assert.Single(_applied);
    }

    [Fact]
    public void A_later_patch_that_fixes_the_errors_applies_on_top_of_the_rejected_document()
    {
        _pipeline.ApplyFull(TwinJson.ParseObject("""{ "name": "line-one" }"""), 1);
        _pipeline.ApplyPatch(TwinJson.ParseObject("""{ "mode": "Upside", "anonymousPull": true }"""), 2);

        var status = _pipeline.ApplyPatch(TwinJson.ParseObject("""{ "mode": "ReadOnly" }"""), 3);

        Assert.Equal(200, status.Code);
        Assert.Equal(RegistryMode.ReadOnly, _store.Current.Mode);
        Assert.True(_store.Current.AnonymousPull);
        Assert.Equal("line-one", _store.Current.Name);
    }

    [Fact]
    public void A_null_in_a_patch_returns_the_member_to_its_default()
    {
        _pipeline.ApplyFull(TwinJson.ParseObject("""{ "mode": "ReadOnly", "anonymousPull": true }"""), 1);
        _pipeline.ApplyPatch(TwinJson.ParseObject("""{ "mode": null }"""), 2);

        Assert.Equal(RegistryMode.ReadWrite, _store.Current.Mode);
        Assert.True(_store.Current.AnonymousPull);
    }

    [Fact]
    public void The_log_level_switch_follows_an_explicit_log_level_only()
    {
        _pipeline.ApplyFull(TwinJson.ParseObject("""{ "logLevel": "Warning" }"""), 1);
        Assert.Equal(LogLevel.Warning, _logLevel.Level);
        var filter = new LoggerFilterOptions();
        _logLevel.Configure(filter);
        Assert.Contains(filter.Rules, r => r.CategoryName is null && r.ProviderName is null && r.LogLevel == LogLevel.Warning);

        _pipeline.ApplyPatch(TwinJson.ParseObject("""{ "logLevel": null }"""), 2);
        Assert.Null(_logLevel.Level);
    }

    [Fact]
    public void Status_changes_are_announced_for_applied_and_rejected_documents()
    {
        var seen = new List<DesiredStatus>();
        _pipeline.StatusChanged += seen.Add;

        _pipeline.ApplyFull(TwinJson.ParseObject("{}"), 1);
        _pipeline.ApplyPatch(TwinJson.ParseObject("""{ "name": "x" }"""), 2);
        _pipeline.Reject(3, "unreadable");

        Assert.Equal([200, 400, 400], seen.Select(s => s.Code));
        Assert.Equal([1L, 2L, 3L], seen.Select(s => s.Version));
    }

    [Fact]
    public void A_case_variant_of_client_tokens_is_rejected_and_never_leaves_the_registry_open()
    {
        const string Hash = "pbkdf2-sha256$210000$MtvMtxvr2R2GXZHg78/0yA==$YHud+y1f8w7utK4a8AEc+mbbFcApSCh09UmRauNHRmY=";
        _pipeline.ApplyFull(TwinJson.ParseObject($$"""{ "clientTokens": { "admin": { "passwordHash": "{{Hash}}", "scopeMap": { "*": ["content/read"] } } } }"""), 1);

        var status = _pipeline.ApplyFull(TwinJson.ParseObject($$"""{ "ClientTokens": { "admin": { "passwordHash": "{{Hash}}", "scopeMap": { "*": ["content/read"] } } } }"""), 2);

        Assert.Equal(400, status.Code);
        Assert.Contains("'ClientTokens' is not a member; did you mean 'clientTokens'?", status.Description, StringComparison.Ordinal);
        Assert.Single(_store.Current.ClientTokens);
    }

    [Fact]
    public void Unknown_members_apply_with_a_warning_status_detail_that_clears_when_they_go()
    {
        var status = _pipeline.ApplyFull(TwinJson.ParseObject("""{ "name": "line-one", "futureFeature": true }"""), 1);

        Assert.Equal(200, status.Code);
        var detail = Assert.Single(_state.Snapshot().StatusDetails);
        Assert.Equal(DesiredPropertiesPipeline.UnknownMembersCode, detail.Code);
        Assert.Equal("Warning", detail.Type);
        Assert.Equal("desired properties have members this module does not know, ignored: futureFeature", detail.Description);

        _pipeline.ApplyPatch(TwinJson.ParseObject("""{ "futureFeature": null }"""), 2);
        Assert.Empty(_state.Snapshot().StatusDetails);
    }
}
