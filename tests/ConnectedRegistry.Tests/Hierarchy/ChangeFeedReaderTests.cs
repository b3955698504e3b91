using System.Text;
using ConnectedRegistry.Hierarchy;

namespace ConnectedRegistry.Tests.Hierarchy;

/// <summary>The child's incremental reader of a change-feed answer: what it keeps, what it refuses, and how far it reads.</summary>
public sealed class ChangeFeedReaderTests
{
    [Fact]
    public async Task Keeps_the_cursor_the_flags_and_each_entrys_repository_and_skips_the_rest()
    {
        var page = await ReadAsync("""
            {"last": 42, "truncated": false, "more": true, "future": {"x": [1, {"y": "z"}]},
             "changes": [
               {"sequence": 41, "repository": "apps/web", "tag": "v1", "annotations": {"a": [1, 2, {"repository": "nested/not-this"}]}},
               {"sequence": 42, "tag": "v2"},
               {"sequence": 43, "repository": 7}
             ]}
            """);

        Assert.NotNull(page);
        Assert.Equal(42, page.Last);
        Assert.False(page.Truncated);
        Assert.True(page.More);
        Assert.Equal(["apps/web", null, null], page.Repositories);
    }

    [Theory]
    [InlineData("<html><body>proxy login</body></html>")]
    [InlineData("[1, 2]")]
    [InlineData("")]
    public async Task A_body_that_is_no_JSON_object_is_no_page(string body) => Assert.Null(await ReadAsync(body));

    [Theory]
    [InlineData("""{"last": "not-a-number", "changes": []}""")]
    [InlineData("""{"last": 1, "truncated": {}, "changes": []}""")]
    [InlineData("""{"last": 1, "changes": [1, 2]}""")]
    [InlineData("""{"last": 1, "changes": {"repository": "a"}}""")]
    [InlineData("""{"last": 1, "changes": [{"repository": "a"}""")]
    public async Task A_JSON_object_of_another_shape_is_a_format_error(string body) =>
        await Assert.ThrowsAsync<FormatException>(() => ReadAsync(body));

    [Fact]
    public async Task A_declared_length_over_the_limit_is_refused_before_a_byte_is_read()
    {
        var body = new ThrowingStream();
        using var content = new StreamContent(body);
        content.Headers.ContentLength = 200_000_000;

        var refused = await Assert.ThrowsAsync<ChangeFeedTooLargeException>(() => ChangeFeedReader.ReadAsync(content, 4096, CancellationToken.None));
        Assert.Equal(4096, refused.Limit);
        Assert.False(body.Touched);
    }

    [Fact]
    public async Task A_body_without_a_length_is_refused_at_the_byte_past_the_limit_and_not_read_further()
    {
        var entries = string.Concat(Enumerable.Repeat("""{"repository":"apps/web"},""", 100_000));
        var body = new CountingStream(Encoding.UTF8.GetBytes("""{"last":1,"changes":[""" + entries + "{}]}"));
        using var content = new StreamContent(body, 1024);

        await Assert.ThrowsAsync<ChangeFeedTooLargeException>(() => ChangeFeedReader.ReadAsync(content, 64 * 1024, CancellationToken.None));
        Assert.True(body.Position <= 64 * 1024 + 16 * 1024, $"read {body.Position} bytes");
    }

    private static async Task<ChangeFeedPage?> ReadAsync(string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        return await ChangeFeedReader.ReadAsync(content, 1024 * 1024, CancellationToken.None);
    }

    private sealed class ThrowingStream : MemoryStream
    {
        public bool Touched { get; private set; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            Touched = true;
            throw new InvalidOperationException("read");
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Touched = true;
            throw new InvalidOperationException("read");
        }
    }

    /// <summary>A body that gives at most 1 KiB per read, so how far the reader went shows in its position.</summary>
    private sealed class CountingStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, 1024)], cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, 1024));
    }
}
