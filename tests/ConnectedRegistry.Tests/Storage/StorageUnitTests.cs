using ConnectedRegistry.Oci;
using ConnectedRegistry.Storage;
using Microsoft.Extensions.Configuration;

namespace ConnectedRegistry.Tests.Storage;

public class DataLayoutTests
{
    [Fact]
    public void Blob_paths_are_sharded_by_the_first_two_hex_characters()
    {
        var layout = new DataLayout(Path.Combine(Path.GetTempPath(), "layout-test"));
        var digest = Digest.Compute("hello"u8);

        var path = layout.BlobPath(digest);

        Assert.Equal(Path.Combine(layout.Root, "blobs", "sha256", digest.Hex[..2], digest.Hex), path);
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef", true)]
    [InlineData("0123456789ABCDEF0123456789abcdef", false)]
    [InlineData("../../../../etc/passwd00000000000", false)]
    [InlineData("0123456789abcdef", false)]
    [InlineData(null, false)]
    public void Only_plain_hex_session_ids_become_paths(string? id, bool valid)
    {
        Assert.Equal(valid, DataLayout.IsValidSessionId(id));
        if (!valid && id is not null)
        {
            Assert.Throws<ArgumentException>(() => new DataLayout(Path.GetTempPath()).UploadDirectory(id));
        }
    }
}

public class StorageOptionsTests
{
    [Fact]
    public void Defaults_apply_when_nothing_is_configured()
    {
        var options = StorageOptions.FromConfiguration(new ConfigurationBuilder().Build());

        Assert.Equal(TimeSpan.FromDays(1), options.UploadMaxAge);
        Assert.Equal(TimeSpan.FromHours(1), options.GarbageCollectionGrace);
        Assert.Equal(1000, options.UploadMaxSessions);
        Assert.Equal(100, options.UploadMaxSessionsPerRepository);
        Assert.Equal(100, options.UploadMaxSessionsPerClient);
        Assert.Equal(TimeSpan.FromMinutes(10), options.UploadIdleAgeNearCap);
        Assert.Equal(TimeSpan.FromSeconds(10), options.PullFlushInterval);
        Assert.True(options.RecordPulls);
    }

    [Fact]
    public void The_pull_flush_interval_and_the_recording_switch_are_read_and_checked()
    {
        var options = StorageOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["REGISTRY_PULL_FLUSH_INTERVAL"] = "00:01:00",
            ["record-pulls"] = "false",
        }).Build());
        Assert.Equal(TimeSpan.FromMinutes(1), options.PullFlushInterval);
        Assert.False(options.RecordPulls);

        var zero = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["REGISTRY_PULL_FLUSH_INTERVAL"] = "00:00:00" }).Build();
        Assert.Equal(
            "--pull-flush-interval (REGISTRY_PULL_FLUSH_INTERVAL) must be a duration longer than zero, such as 00:00:10 or PT10S, got '00:00:00'.",
            Assert.Throws<ConnectedRegistry.Core.StartupException>(() => StorageOptions.FromConfiguration(zero)).Message);
        var notFlag = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["record-pulls"] = "sometimes" }).Build();
        Assert.Equal(
            "--record-pulls (REGISTRY_RECORD_PULLS) must be true or false, got 'sometimes'.",
            Assert.Throws<ConnectedRegistry.Core.StartupException>(() => StorageOptions.FromConfiguration(notFlag)).Message);
    }

    [Fact]
    public void The_per_client_session_cap_and_the_idle_limit_near_a_cap_are_read_like_the_other_caps()
    {
        var options = StorageOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["REGISTRY_UPLOAD_MAX_SESSIONS_PER_CLIENT"] = "20",
            ["upload-idle-near-cap"] = "00:05:00",
        }).Build());
        Assert.Equal(20, options.UploadMaxSessionsPerClient);
        Assert.Equal(TimeSpan.FromMinutes(5), options.UploadIdleAgeNearCap);

        var bad = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["upload-max-sessions-per-client"] = "0" }).Build();
        var error = Assert.Throws<ConnectedRegistry.Core.StartupException>(() => StorageOptions.FromConfiguration(bad));
        Assert.Equal("--upload-max-sessions-per-client (REGISTRY_UPLOAD_MAX_SESSIONS_PER_CLIENT) must be a whole number of at least 1, got '0'.", error.Message);
    }

    [Fact]
    public void Command_line_keys_and_environment_names_are_read()
    {
        var options = StorageOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["upload-max-age"] = "02:00:00",
            ["REGISTRY_GC_GRACE"] = "00:00:30",
        }).Build());

        Assert.Equal(TimeSpan.FromHours(2), options.UploadMaxAge);
        Assert.Equal(TimeSpan.FromSeconds(30), options.GarbageCollectionGrace);
    }

    [Fact]
    public void Invalid_values_are_refused_at_start_up()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["gc-grace"] = "soon" }).Build();

        var error = Assert.Throws<ConnectedRegistry.Core.StartupException>(() => StorageOptions.FromConfiguration(configuration));
        Assert.Equal("--gc-grace (REGISTRY_GC_GRACE) must be a duration such as 01:00:00 or PT1H, got 'soon'.", error.Message);
    }
}

public class GarbageCollectionScheduleTests
{
    [Fact]
    public void Next_occurrence_follows_the_cron_expression_in_utc()
    {
        var from = new DateTimeOffset(2026, 3, 1, 2, 59, 0, TimeSpan.Zero);

        Assert.Equal(new DateTimeOffset(2026, 3, 1, 3, 0, 0, TimeSpan.Zero), GarbageCollectionScheduler.NextOccurrence("0 3 * * *", from));
        Assert.Equal(new DateTimeOffset(2026, 3, 2, 3, 0, 0, TimeSpan.Zero), GarbageCollectionScheduler.NextOccurrence("0 3 * * *", from.AddMinutes(1)));
    }

    [Theory]
    [InlineData("not cron")]
    [InlineData("61 * * * *")]
    [InlineData("* * * * * *")]
    public void Invalid_schedules_plan_nothing(string schedule)
    {
        Assert.Null(GarbageCollectionScheduler.NextOccurrence(schedule, DateTimeOffset.UtcNow));
    }
}
