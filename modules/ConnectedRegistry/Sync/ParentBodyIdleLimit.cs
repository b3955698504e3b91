using System.Net;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Sync;

/// <summary>
/// The idle limit on every body the parent sends (twin <c>sync.parentIdleTimeout</c>): a read of an answer's body
/// that gets no byte for that long fails with <see cref="ParentStalledException"/>. Innermost handler of the parent
/// client, so blobs, manifests, listings and error envelopes all pass it. Without it a parent that sent part of a
/// blob and went silent held the download, and every client that joined it, until the connection died (200 s).
/// Only bodies are timed: the wait for an answer's headers is not, since a parent that fetches on demand itself
/// answers a HEAD only once it holds the whole blob.
/// </summary>
public sealed class ParentBodyIdleHandler(Func<TimeSpan> idleLimit, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (request.Method != HttpMethod.Head)
        {
            response.Content = new IdleLimitedContent(response.Content, idleLimit);
        }

        return response;
    }

    /// <summary>The parent's content, read through <see cref="IdleLimitedStream"/>; its headers are the parent's.</summary>
    private sealed class IdleLimitedContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly Func<TimeSpan> _idleLimit;

        public IdleLimitedContent(HttpContent inner, Func<TimeSpan> idleLimit)
        {
            _inner = inner;
            _idleLimit = idleLimit;
            foreach (var (name, values) in inner.Headers)
            {
                Headers.TryAddWithoutValidation(name, values);
            }
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            new IdleLimitedStream(await _inner.ReadAsStreamAsync(cancellationToken), _idleLimit());

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await using var body = await CreateContentReadStreamAsync(cancellationToken);
            await body.CopyToAsync(stream, cancellationToken);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false; // the parent's Content-Length, if it sent one, is among the copied headers
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>Each read must get a byte within the idle limit, else <see cref="ParentStalledException"/>.</summary>
    private sealed class IdleLimitedStream(Stream inner, TimeSpan idleLimit) : ReadOnlyStream
    {
        private long _read;

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            idle.CancelAfter(idleLimit);
            try
            {
                var n = await inner.ReadAsync(buffer, idle.Token);
                _read += n;
                return n;
            }
            catch (OperationCanceledException) when (idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new ParentStalledException(idleLimit, _read);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// The parent sent no byte of an answer's body for the idle limit (<c>sync.parentIdleTimeout</c>). A timeout, so
/// <see cref="ParentFailure"/> counts it as the link's failure: what arrived stays staged and the next attempt resumes.
/// </summary>
public sealed class ParentStalledException(TimeSpan idleLimit, long received)
    : TimeoutException($"the parent sent nothing for {idleLimit.TotalSeconds:0.#} s after {received} bytes of its answer")
{
    public TimeSpan IdleLimit { get; } = idleLimit;
}
