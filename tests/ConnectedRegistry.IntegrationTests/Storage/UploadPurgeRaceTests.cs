using System.Net;
using System.Net.Http.Headers;
using ConnectedRegistry.IntegrationTests.Infrastructure;
using ConnectedRegistry.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace ConnectedRegistry.IntegrationTests.Storage;

/// <summary>The upload purge and a client that comes back to an idle session at the same moment.</summary>
public sealed class UploadPurgeRaceTests(RegistryFixture fixture) : IClassFixture<RegistryFixture>
{
    [Fact]
    public async Task A_session_that_becomes_active_while_the_purge_waits_for_it_is_kept()
    {
        var registry = fixture.Registry;
        var start = await registry.Client.PostAsync("/v2/purge/race/blobs/uploads/", null);
        var session = start.Headers.Location!.OriginalString;
        var data = Path.Combine(registry.DataRoot, "uploads", session.Split('/')[^1], "data");
        await Task.Delay(50); // the session is now idle for longer than the purge's maximum age below

        // The client comes back: its chunk is mid-transfer (the session is locked) when the purge runs.
        var body = new GatedStream(new byte[64 * 1024]);
        var request = new HttpRequestMessage(HttpMethod.Patch, session) { Content = new StreamContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var patch = registry.Client.SendAsync(request);
        await Poll.UntilAsync(() => BlobStore.LengthOf(data) > 0, "the chunk reaching the session");
        var purge = registry.App.Services.GetRequiredService<UploadSessionStore>().PurgeAsync(TimeSpan.FromMilliseconds(10), CancellationToken.None);
        body.Release();

        Assert.Equal(HttpStatusCode.Accepted, (await patch).StatusCode);
        await purge;
        var status = await registry.Client.GetAsync(session);
        Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
        Assert.Equal($"0-{(64 * 1024) - 1}", Assert.Single(status.Headers.GetValues("Range")));
    }

    /// <summary>Sends its bytes, then holds the request open until released.</summary>
    private sealed class GatedStream(byte[] data) : Stream
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public void Release() => _released.TrySetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position < data.Length)
            {
                var n = Math.Min(buffer.Length, data.Length - _position);
                data.AsMemory(_position, n).CopyTo(buffer);
                _position += n;
                return n;
            }

            await _released.Task.WaitAsync(cancellationToken);
            return 0;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
