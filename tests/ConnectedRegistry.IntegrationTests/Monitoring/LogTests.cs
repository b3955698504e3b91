using System.Text.Json;
using System.Text.RegularExpressions;
using ConnectedRegistry.IntegrationTests.Auth;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Monitoring;

/// <summary>What an operator's log holds per request: nothing by default, one line with --access-log, JSON lines on request.</summary>
public sealed partial class LogTests
{
    private const string AccessLogCategory = "ConnectedRegistry.Monitoring.AccessLog Information ";

    [Fact]
    public async Task By_default_a_push_and_a_pull_write_no_log_line_per_request()
    {
        var (lines, requests) = await PushAndPullAsync([]);
        Assert.Equal(0, lines.Count(l => l.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)));
        Assert.Equal(0, lines.Count(l => l.StartsWith(AccessLogCategory, StringComparison.Ordinal)));
        Assert.True(requests >= 5);
    }

    [Fact]
    public async Task With_access_log_each_request_writes_exactly_one_line_in_the_common_format()
    {
        var (lines, requests) = await PushAndPullAsync(["--access-log"]);
        var access = lines.Where(l => l.StartsWith(AccessLogCategory, StringComparison.Ordinal)).ToList();
        Assert.Equal(requests, access.Count);
        Assert.Equal(0, lines.Count(l => l.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)));
        Assert.Contains(access, l => CommonFormat().IsMatch(l) && l.Contains("\"PUT /v2/logs/app/manifests/1.0 HTTP/1.1\" 201 0 ", StringComparison.Ordinal));
        Assert.Contains(access, l => CommonFormat().IsMatch(l) && l.Contains("\"GET /v2/logs/app/manifests/1.0 HTTP/1.1\" 200 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_framework_request_lines_come_back_when_an_operator_asks_for_them()
    {
        // Proves the default above is what keeps them out (and that this test would see them).
        var (lines, requests) = await PushAndPullAsync(["--Logging:LogLevel:Microsoft.AspNetCore", "Information"]);
        Assert.True(lines.Count(l => l.StartsWith("Microsoft.AspNetCore.Hosting", StringComparison.Ordinal)) >= 2 * requests);
    }

    [Fact]
    public async Task Json_log_format_writes_every_console_line_as_json_with_its_event_id()
    {
        var data = TempDirectory.Create("json-logs");
        IReadOnlyList<string> lines;
        var module = ModuleProcess.Start(
            ["--urls", "http://127.0.0.1:0", "--data", data, "--access-log", "--desired", Path.Combine(data, "twin", "desired.json"), "--reported", Path.Combine(data, "twin", "reported.json")],
            new Dictionary<string, string> { ["REGISTRY_LOG_FORMAT"] = "json" });
        try
        {
            var listening = await module.LineAsync("Registry listening on");
            var url = ListeningUrl().Match(listening).Groups["url"].Value;
            using var http = new HttpClient { BaseAddress = new Uri(url) };
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/v2/")).StatusCode);
            await module.LineAsync("GET /v2/ HTTP/1.1");
        }
        finally
        {
            await module.DisposeAsync();
            lines = [.. module.Lines];
            TempDirectory.Delete(data);
        }

        var entries = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.All(entries, e =>
        {
            Assert.True(e.TryGetProperty("Timestamp", out _));
            Assert.True(e.TryGetProperty("EventId", out _));
            Assert.True(e.TryGetProperty("LogLevel", out _));
            Assert.True(e.TryGetProperty("Category", out _));
            Assert.True(e.TryGetProperty("Message", out _));
        });
        var started = entries.Single(e => e.GetProperty("Message").GetString()!.StartsWith("Registry listening on", StringComparison.Ordinal));
        Assert.Equal(1, started.GetProperty("EventId").GetInt32());
        var access = entries.Single(e => e.GetProperty("Category").GetString() == "ConnectedRegistry.Monitoring.AccessLog");
        Assert.Equal(7001, access.GetProperty("EventId").GetInt32());
        Assert.Equal("GET", access.GetProperty("State").GetProperty("Method").GetString());
        Assert.Equal(200, access.GetProperty("State").GetProperty("Status").GetInt32());
    }

    /// <summary>Pushes and pulls one image with plain HTTP requests; returns every log line written meanwhile and the request count.</summary>
    private static async Task<(IReadOnlyList<string> Lines, int Requests)> PushAndPullAsync(string[] args)
    {
        var capture = new LogCapture();
        await using var registry = await RegistryInstance.StartAsync(extraArgs: args, configure: b =>
        {
            b.Logging.SetMinimumLevel(LogLevel.Information); // what a device runs with (the tests' own default is Warning)
            b.Logging.AddProvider(capture);
        });
        try
        {
            var before = capture.Lines.Count;
            var image = TestContent.Image("logs", layers: 1, layerSize: 2048);
            await registry.Client.PushImageAsync("logs/app", "1.0", image); // 2 blob POSTs + 1 manifest PUT
            using (var get = new HttpRequestMessage(HttpMethod.Get, "/v2/logs/app/manifests/1.0"))
            {
                get.Headers.Accept.ParseAdd(image.Manifest.MediaType);
                (await registry.Client.SendAsync(get)).EnsureSuccessStatusCode();
            }

            (await registry.Client.GetAsync($"/v2/logs/app/blobs/{image.Layers[0].Digest}")).EnsureSuccessStatusCode();
            const int requests = 5;

            // The access line is written when the response has completed: give the last one a moment.
            if (args.Contains("--access-log"))
            {
                await Poll.UntilAsync(() => capture.Lines.Skip(before).Count(l => l.StartsWith(AccessLogCategory, StringComparison.Ordinal)) >= requests, "an access line for each request");
            }

            await Task.Delay(200);
            return ([.. capture.Lines.Skip(before)], requests);
        }
        finally
        {
            registry.DeleteData();
        }
    }

    [GeneratedRegex(@"^ConnectedRegistry\.Monitoring\.AccessLog Information 127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] ""[A-Z]+ \S+ HTTP/1\.1"" \d{3} \d+ \d+\.\dms ")]
    private static partial Regex CommonFormat();

    [GeneratedRegex(@"Registry listening on (?<url>http://[^\s,]+)")]
    private static partial Regex ListeningUrl();
}
