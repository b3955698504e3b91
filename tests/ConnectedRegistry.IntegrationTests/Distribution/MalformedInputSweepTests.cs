using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ConnectedRegistry.Oci;

namespace ConnectedRegistry.IntegrationTests.Distribution;

/// <summary>
/// Hostile input on every route of the real app over real Kestrel: odd and encoded names, bad digests, bad
/// pagination, garbage and overflowing ranges and lengths, huge headers, truncated bodies, clients that go away,
/// and races on one digest, tag or session. Never a 5xx; every answer the app gives is the OCI envelope with the
/// right code; the store stays consistent and what was pushed before is still whole.
/// </summary>
public sealed class MalformedInputSweepTests : IAsyncLifetime
{
    private const string Base = "sweep/base";

    private RegistryInstance _registry = null!;
    private TestImage _image = null!;

    /// <summary>How an answer is judged.</summary>
    private enum Expect
    {
        /// <summary>The app answered with the OCI envelope and this code.</summary>
        Envelope,

        /// <summary>Kestrel refused the request before any app code ran (bad framing, oversized request line or headers): no envelope can exist.</summary>
        Transport,

        /// <summary>Not an error: the odd input is legal and answered normally.</summary>
        Success,
    }

    private sealed record Case(string Method, string Target, int Status, Expect Kind, string? Code = null, string[]? Headers = null, byte[]? Body = null)
    {
        public override string ToString() => $"{Method} {(Target.Length > 80 ? Target[..80] + "…" : Target)}";
    }

    public async Task InitializeAsync()
    {
        _registry = await RegistryInstance.StartAsync();
        _image = TestContent.Image("sweep-base", layers: 2, layerSize: 64 * 1024);
        await _registry.Client.PushImageAsync(Base, "v1", _image);
    }

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        _registry.DeleteData();
    }

    [Fact]
    public async Task Hostile_requests_on_every_route_get_the_right_envelope_and_never_a_5xx()
    {
        var layer = _image.Layers[0].Digest.ToString();
        var manifest = Encoding.UTF8.GetString(_image.Manifest.Bytes);
        var unknownLayer = new TestBlob(TestContent.Bytes("sweep-unknown", 10), "x").Digest.ToString();
        var hex = new string('a', 64);
        var failures = new List<string>();

        foreach (var c in Cases(layer, manifest, unknownLayer, hex))
        {
            var target = c.Target;
            if (target.Contains("{session}", StringComparison.Ordinal))
            {
                target = target.Replace("{session}", await _registry.Client.StartUploadAsync(Base), StringComparison.Ordinal);
            }

            var head = new StringBuilder($"{c.Method} {target} HTTP/1.1");
            foreach (var header in c.Headers ?? [])
            {
                head.Append("\r\n").Append(header);
            }

            if (c.Body is not null && !(c.Headers ?? []).Any(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase) || h.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase)))
            {
                head.Append("\r\nContent-Length: ").Append(c.Body.Length);
            }

            var response = await RawHttp.SendAsync(_registry.BaseAddress, head.ToString(), c.Body);
            var problem = Judge(c, response);
            if (problem is not null)
            {
                failures.Add($"{c}: {problem}");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
        await AssertBaseImageIntactAsync();
        StoreVerifier.Verify(_registry.DataRoot);
    }

    [Fact]
    public async Task Truncated_bodies_store_nothing_and_leave_the_session_usable()
    {
        var client = _registry.Client;
        var blob = new TestBlob(TestContent.Bytes("sweep-truncated", 300_000), "application/octet-stream");

        // A monolithic push cut short: nothing becomes visible under the digest.
        var cut = await RawHttp.SendAsync(
            _registry.BaseAddress,
            $"POST /v2/sweep/cut/blobs/uploads/?digest={blob.Digest} HTTP/1.1\r\nContent-Length: {blob.Size}",
            blob.Bytes[..1000],
            declaredBodyCut: true);
        Assert.True(cut is null || cut.Status < 500, $"status {cut?.Status}");
        Assert.Equal(HttpStatusCode.NotFound, (await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/sweep/cut/blobs/{blob.Digest}"))).StatusCode);

        // A chunk cut short: the session reports what it holds and the upload resumes from there.
        var session = await _registry.Client.StartUploadAsync("sweep/cut");
        var chunk = await RawHttp.SendAsync(
            _registry.BaseAddress,
            $"PATCH {session} HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: {blob.Size}",
            blob.Bytes[..50_000],
            declaredBodyCut: true);
        Assert.True(chunk is null || chunk.Status < 500, $"status {chunk?.Status}");
        await ResumeAndCompleteAsync(session, blob);

        // A manifest cut short: no tag appears.
        var manifest = await RawHttp.SendAsync(
            _registry.BaseAddress,
            $"PUT /v2/{Base}/manifests/cut HTTP/1.1\r\nContent-Type: {MediaTypes.OciManifest}\r\nContent-Length: {_image.Manifest.Size}",
            _image.Manifest.Bytes[..20],
            declaredBodyCut: true);
        Assert.True(manifest is null || manifest.Status < 500, $"status {manifest?.Status}");
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v2/{Base}/manifests/cut")).StatusCode);

        await AssertBaseImageIntactAsync();
        StoreVerifier.Verify(_registry.DataRoot);
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_upload_leaves_a_session_that_resumes()
    {
        var blob = new TestBlob(TestContent.Bytes("sweep-disconnect", 2 * 1024 * 1024), "application/octet-stream");
        var session = await _registry.Client.StartUploadAsync("sweep/gone");

        using (var request = new HttpRequestMessage(HttpMethod.Patch, session))
        {
            request.Content = new StreamContent(new FailingStream(blob.Bytes, failAfter: 700_000));
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            await Assert.ThrowsAnyAsync<Exception>(() => _registry.Client.SendAsync(request));
        }

        await ResumeAndCompleteAsync(session, blob);
        StoreVerifier.Verify(_registry.DataRoot);
    }

    [Fact]
    public async Task Concurrent_pushes_of_one_digest_one_tag_and_one_session_stay_consistent()
    {
        var client = _registry.Client;
        const int Parallel = 8;

        // The same blob pushed eight times at once: all succeed, one file.
        var blob = new TestBlob(TestContent.Bytes("sweep-race-blob", 1024 * 1024), "application/octet-stream");
        var blobPushes = await Task.WhenAll(Enumerable.Range(0, Parallel).Select(_ =>
            client.PostAsync($"/v2/sweep/race/blobs/uploads/?digest={blob.Digest}", new ByteArrayContent(blob.Bytes))));
        Assert.All(blobPushes, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        Assert.Equal(blob.Bytes, await client.GetByteArrayAsync($"/v2/sweep/race/blobs/{blob.Digest}"));

        // Eight different manifests raced onto one tag: all succeed and the tag ends on one of them.
        var images = Enumerable.Range(0, Parallel).Select(i => TestContent.Image($"sweep-race-{i}", layers: 1, layerSize: 1024)).ToList();
        foreach (var image in images)
        {
            foreach (var b in image.Blobs)
            {
                await client.PushBlobAsync("sweep/race", b);
            }
        }

        var tagPushes = await Task.WhenAll(images.Select(image => client.PutManifestAsync("sweep/race", "latest", image.Manifest)));
        Assert.All(tagPushes, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        var tagged = await client.GetByteArrayAsync("/v2/sweep/race/manifests/latest");
        Assert.Contains(images, image => image.Manifest.Bytes.SequenceEqual(tagged));

        // The same first chunk sent eight times at once to one session: exactly one lands, the others are 416.
        var session = await _registry.Client.StartUploadAsync("sweep/race");
        var chunk = blob.Bytes[..100_000];
        var patches = await Task.WhenAll(Enumerable.Range(0, Parallel).Select(_ =>
        {
            var request = new HttpRequestMessage(HttpMethod.Patch, session) { Content = new ByteArrayContent(chunk) };
            request.Content.Headers.TryAddWithoutValidation("Content-Range", $"0-{chunk.Length - 1}");
            return client.SendAsync(request);
        }));
        Assert.Single(patches, r => r.StatusCode == HttpStatusCode.Accepted);
        Assert.All(patches.Where(r => r.StatusCode != HttpStatusCode.Accepted), r => Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, r.StatusCode));

        // The rest, then eight racing completions: exactly one commits, the others find the session gone.
        var rest = new HttpRequestMessage(HttpMethod.Patch, session) { Content = new ByteArrayContent(blob.Bytes[100_000..]) };
        rest.Content.Headers.TryAddWithoutValidation("Content-Range", $"100000-{blob.Size - 1}");
        Assert.Equal(HttpStatusCode.Accepted, (await client.SendAsync(rest)).StatusCode);
        var completions = await Task.WhenAll(Enumerable.Range(0, Parallel).Select(_ => client.PutAsync($"{session}?digest={blob.Digest}", null)));
        Assert.Single(completions, r => r.StatusCode == HttpStatusCode.Created);
        foreach (var failed in completions.Where(r => r.StatusCode != HttpStatusCode.Created))
        {
            Assert.Equal(HttpStatusCode.NotFound, failed.StatusCode);
            Assert.Equal("BLOB_UPLOAD_UNKNOWN", await failed.ErrorCodeAsync());
        }

        Assert.Equal(blob.Bytes, await client.GetByteArrayAsync($"/v2/sweep/race/blobs/{blob.Digest}"));
        StoreVerifier.Verify(_registry.DataRoot);
    }

    private static IEnumerable<Case> Cases(string layer, string manifest, string unknownLayer, string hex)
    {
        var b = $"/v2/{Base}";
        var json = new[] { $"Content-Type: {MediaTypes.OciManifest}" };
        byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
        var withUnknownLayer = manifest.Replace(layer, unknownLayer, StringComparison.Ordinal);
        var negativeSize = System.Text.RegularExpressions.Regex.Replace(manifest, "\"size\":\\d+", "\"size\":-1");

        // Names: encoded, resolved, over-long, unicode, NUL, upper case, spaces, backslashes.
        yield return new("GET", "/v2/%2e%2e/x/tags/list", 404, Expect.Envelope, "NAME_UNKNOWN");
        yield return new("GET", "/v2/sweep/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 404, Expect.Envelope, "NAME_UNKNOWN");
        yield return new("GET", "/v2/a%2Fb/tags/list", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("GET", "/v2/a%2fb/manifests/v1", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("GET", "/v2/a%252Fb/tags/list", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("GET", "/v2/%C3%A9t%C3%A9/tags/list", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("GET", "/v2/%E2%80%AEevil/tags/list", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("GET", $"/v2/{new string('a', 256)}/tags/list", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("GET", $"/v2/{string.Concat(Enumerable.Repeat("a/", 200))}b/tags/list", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("GET", "/v2/A/tags/list", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("GET", "/v2/a%20b/tags/list", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("POST", "/v2/..%2Fetc/blobs/uploads/", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("PUT", "/v2/a%5Cb/manifests/v1", 400, Expect.Envelope, "NAME_INVALID", json, Utf8(manifest));
        yield return new("DELETE", $"/v2/.hidden/blobs/{layer}", 400, Expect.Envelope, "NAME_INVALID");
        yield return new("GET", "/v2/a%00b/tags/list", 400, Expect.Transport);
        yield return new("GET", $"/v2/{new string('a', 9000)}/tags/list", 414, Expect.Transport);

        // Digests: short, long, upper case, unknown algorithm, traversal, in every place a digest goes.
        yield return new("GET", $"{b}/blobs/sha256:abc", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("GET", $"{b}/blobs/sha256:{hex.ToUpperInvariant()}", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("GET", $"{b}/blobs/sha256:{hex[1..]}", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("GET", $"{b}/blobs/sha256:{hex}0", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("GET", $"{b}/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("GET", $"{b}/blobs/sha256:..%2F..%2Fregistry.db", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("GET", $"{b}/manifests/sha256:zz", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("DELETE", $"{b}/manifests/sha256:zz", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("GET", $"{b}/referrers/sha256:zz", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("DELETE", $"{b}/blobs/sha512:{hex}", 400, Expect.Envelope, "DIGEST_INVALID");
        yield return new("POST", $"{b}/blobs/uploads/?digest=sha256:zz", 400, Expect.Envelope, "DIGEST_INVALID", Body: []);
        yield return new("PUT", $"{{session}}?digest=nonsense", 400, Expect.Envelope, "DIGEST_INVALID", Body: []);
        yield return new("PUT", $"{{session}}", 400, Expect.Envelope, "DIGEST_INVALID", Body: []);
        yield return new("PUT", $"{{session}}?digest=sha256:{hex}", 400, Expect.Envelope, "DIGEST_INVALID", Body: Utf8("abc"));
        yield return new("PUT", $"{b}/manifests/sha256:{hex}", 400, Expect.Envelope, "DIGEST_INVALID", json, Utf8(manifest));
        yield return new("POST", $"{b}/blobs/uploads/?mount=sha256:zz&from={Base}", 202, Expect.Success, Body: []);
        yield return new("POST", $"{b}/blobs/uploads/?mount={layer}&from=..%2Fsweep%2Fbase", 202, Expect.Success, Body: []);
        yield return new("POST", $"/v2/sweep/other/blobs/uploads/?mount={layer}", 202, Expect.Success, Body: []);

        // Tags that are not tags.
        yield return new("GET", $"{b}/manifests/{new string('t', 200)}", 404, Expect.Envelope, "MANIFEST_UNKNOWN");
        yield return new("PUT", $"{b}/manifests/{new string('t', 200)}", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8(manifest));
        yield return new("PUT", $"{b}/manifests/-bad", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8(manifest));

        // Pagination.
        yield return new("GET", $"{b}/tags/list?n=-1", 400, Expect.Envelope, "PAGINATION_NUMBER_INVALID");
        yield return new("GET", $"{b}/tags/list?n=abc", 400, Expect.Envelope, "PAGINATION_NUMBER_INVALID");
        yield return new("GET", $"{b}/tags/list?n=99999999999999999999", 400, Expect.Envelope, "PAGINATION_NUMBER_INVALID");
        yield return new("GET", $"{b}/tags/list?n=%2B5", 400, Expect.Envelope, "PAGINATION_NUMBER_INVALID");
        yield return new("GET", $"{b}/tags/list?n=1e3", 400, Expect.Envelope, "PAGINATION_NUMBER_INVALID");
        yield return new("GET", "/v2/_catalog?n=-5", 400, Expect.Envelope, "PAGINATION_NUMBER_INVALID");
        yield return new("GET", $"{b}/tags/list?n=0", 200, Expect.Success);
        yield return new("GET", $"{b}/tags/list?last=%00", 200, Expect.Success);
        yield return new("GET", $"{b}/tags/list?n=1&last={new string('z', 5000)}", 200, Expect.Success);
        yield return new("GET", "/v2/_catalog?n=2&last=%FF%FE", 200, Expect.Success);

        // Content-Range on a chunk: garbage, overflowing, negative, reversed, out of order, disagreeing with the length.
        var chunk = new[] { "Content-Type: application/octet-stream" };
        yield return new("PATCH", $"{{session}}", 416, Expect.Envelope, "RANGE_INVALID", [.. chunk, "Content-Range: garbage"], Utf8("x"));
        yield return new("PATCH", $"{{session}}", 400, Expect.Envelope, "SIZE_INVALID", [.. chunk, "Content-Range: 0-99999999999999999999999"], Utf8("x"));
        yield return new("PATCH", $"{{session}}", 400, Expect.Envelope, "SIZE_INVALID", [.. chunk, "Content-Range: 0-9223372036854775807"], Utf8("x"));
        yield return new("PATCH", $"{{session}}", 400, Expect.Envelope, "SIZE_INVALID", [.. chunk, "Content-Range: 0-9223372036854775807", "Transfer-Encoding: chunked"], Utf8("1\r\nx\r\n0\r\n\r\n"));
        yield return new("PATCH", $"{{session}}", 416, Expect.Envelope, "RANGE_INVALID", [.. chunk, "Content-Range: \u0661-\u0662"], Utf8("x"));
        yield return new("PATCH", $"{{session}}", 416, Expect.Envelope, "RANGE_INVALID", [.. chunk, "Content-Range: -1-5"], Utf8("x"));
        yield return new("PATCH", $"{{session}}", 416, Expect.Envelope, "RANGE_INVALID", [.. chunk, "Content-Range: 5-3"], Utf8("x"));
        yield return new("PATCH", $"{{session}}", 416, Expect.Envelope, "RANGE_INVALID", [.. chunk, "Content-Range: 100-100"], Utf8("x"));
        yield return new("PATCH", $"{{session}}", 400, Expect.Envelope, "SIZE_INVALID", [.. chunk, "Content-Range: 0-9"], Utf8("12345"));
        yield return new("PATCH", $"{{session}}", 202, Expect.Success, Headers: [.. chunk, "Content-Range: bytes 0-4/5"], Body: Utf8("12345"));
        yield return new("PATCH", $"{{session}}", 400, Expect.Envelope, "SIZE_INVALID", [.. chunk, "Content-Range: 0-9", "Transfer-Encoding: chunked"], Utf8("5\r\n12345\r\n0\r\n\r\n"));

        // Lengths and headers Kestrel refuses before the app: negative, overflowing, not a number, huge, too many.
        yield return new("POST", $"{b}/blobs/uploads/", 400, Expect.Transport, Headers: ["Content-Length: -1"]);
        yield return new("POST", $"{b}/blobs/uploads/", 400, Expect.Transport, Headers: ["Content-Length: 99999999999999999999"]);
        yield return new("POST", $"{b}/blobs/uploads/", 400, Expect.Transport, Headers: ["Content-Length: abc"]);
        yield return new("GET", "/v2/", 431, Expect.Transport, Headers: [$"X-Big: {new string('a', 70_000)}"]);
        yield return new("GET", "/v2/", 431, Expect.Transport, Headers: [.. Enumerable.Range(0, 150).Select(i => $"X-H{i}: {i}")]);

        // Ranges on a blob: overflowing, suffix overflowing, past the end, garbage, reversed.
        yield return new("GET", $"{b}/blobs/{layer}", 200, Expect.Success, Headers: ["Range: bytes=99999999999999999999-"]);
        yield return new("GET", $"{b}/blobs/{layer}", 200, Expect.Success, Headers: ["Range: bytes=-99999999999999999999"]);
        yield return new("GET", $"{b}/blobs/{layer}", 416, Expect.Envelope, "RANGE_INVALID", [$"Range: bytes={64 * 1024}-"]);
        yield return new("GET", $"{b}/blobs/{layer}", 200, Expect.Success, Headers: ["Range: garbage"]);
        yield return new("GET", $"{b}/blobs/{layer}", 200, Expect.Success, Headers: ["Range: bytes=5-2"]);

        // Manifests: oversized by header, not JSON, too deep, not UTF-8, negative sizes, missing blobs, wrong shapes.
        yield return new("PUT", $"{b}/manifests/big", 413, Expect.Envelope, "MANIFEST_INVALID", [.. json, "Content-Length: 5000000"]);
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8("{"));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8("{\"a\":" + new string('[', 5000) + new string(']', 5000) + "}"));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, [0xFF, 0xFE, 0x00, 0x7B]);
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8(negativeSize));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_BLOB_UNKNOWN", json, Utf8(withUnknownLayer));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8(manifest.Replace(layer, "sha256:../../registry.db", StringComparison.Ordinal)));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", [$"Content-Type: {MediaTypes.OciIndex}"], Utf8(manifest));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8("[]"));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8("null"));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8(manifest.Replace("\"schemaVersion\":2", "\"schemaVersion\":\"2\"", StringComparison.Ordinal)));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, []);

        // Numbers beyond 64 bits, bytes that are not UTF-8, comments: a clear MANIFEST_INVALID, never a 500.
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8("{\"schemaVersion\":99999999999999999999}"));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8(System.Text.RegularExpressions.Regex.Replace(manifest, "\"size\":\\d+", "\"size\":99999999999999999999")));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, [.. Utf8(manifest[..^1] + ",\"annotations\":{\"a\":\""), 0xC3, 0x28, .. Utf8("\"}}")]);
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8("/* comment */" + manifest));
        yield return new("PUT", $"{b}/manifests/x", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8(manifest + "// comment"));

        // Tags and names with a trailing line terminator or NUL (the reference is percent-encoded in the path).
        foreach (var end in new[] { "%0A", "%0D", "%0D%0A", "%E2%80%A8", "%E2%80%A9", "%C2%85" })
        {
            yield return new("PUT", $"{b}/manifests/v2{end}", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8(manifest));
            yield return new("PUT", $"{b}/manifests/{new string('t', 128)}{end}", 400, Expect.Envelope, "MANIFEST_INVALID", json, Utf8(manifest));
            yield return new("GET", $"{b}/manifests/v1{end}", 404, Expect.Envelope, "MANIFEST_UNKNOWN");
            yield return new("GET", $"/v2/sweep/base{end}/tags/list", 400, Expect.Envelope, "NAME_INVALID");
            yield return new("GET", $"{b}/blobs/{layer}{end}", 400, Expect.Envelope, "DIGEST_INVALID");
            yield return new("GET", $"{b}/tags/list?last=v1{end}", 200, Expect.Success);
        }

        // Forwarded-for chains that are not addresses, too long, or forged: read for rate limiting only, never an error.
        yield return new("GET", "/v2/", 200, Expect.Success, Headers: ["X-Forwarded-For: garbage, 999.1.1.1, ::::, [::1]:99999"]);
        yield return new("GET", "/v2/", 200, Expect.Success, Headers: [$"X-Forwarded-For: {string.Join(", ", Enumerable.Range(0, 2000).Select(i => $"10.0.{i / 256}.{i % 256}"))}"]);

        // Methods a resource does not have, and verbs nobody has.
        yield return new("FROB", $"{b}/tags/list", 405, Expect.Envelope, "UNSUPPORTED");
        yield return new("PUT", "/v2/_catalog", 405, Expect.Envelope, "UNSUPPORTED", Body: []);
        yield return new("GET", $"{b}/blobs/uploads/", 405, Expect.Envelope, "UNSUPPORTED");

        // Upload sessions that are not: unknown, traversal, upper case, another repository's.
        yield return new("PATCH", $"{b}/blobs/uploads/{new string('0', 32)}", 404, Expect.Envelope, "BLOB_UPLOAD_UNKNOWN", Body: Utf8("x"));
        yield return new("GET", $"{b}/blobs/uploads/..%2F..%2Fregistry.db", 404, Expect.Envelope, "BLOB_UPLOAD_UNKNOWN");
        yield return new("DELETE", $"{b}/blobs/uploads/{new string('A', 32)}", 404, Expect.Envelope, "BLOB_UPLOAD_UNKNOWN");

        // Things that do not exist.
        yield return new("GET", "/v2/sweep/nothing/manifests/v1", 404, Expect.Envelope, "NAME_UNKNOWN");
        yield return new("GET", $"{b}/manifests/nope", 404, Expect.Envelope, "MANIFEST_UNKNOWN");
        yield return new("GET", $"{b}/blobs/{unknownLayer}", 404, Expect.Envelope, "BLOB_UNKNOWN");
        yield return new("DELETE", $"{b}/manifests/nope", 404, Expect.Envelope, "MANIFEST_UNKNOWN");
        yield return new("DELETE", $"{b}/blobs/{unknownLayer}", 404, Expect.Envelope, "BLOB_UNKNOWN");
    }

    private static string? Judge(Case c, RawResponse? response)
    {
        if (response is null)
        {
            return "the connection closed without an answer";
        }

        if (response.Status >= 500)
        {
            return $"server error {response.Status}: {Encoding.UTF8.GetString(response.Body)}";
        }

        if (response.Status != c.Status)
        {
            return $"status {response.Status}, expected {c.Status} ({response.ErrorCode})";
        }

        return c.Kind switch
        {
            Expect.Envelope when response.ErrorCode != c.Code => $"code {response.ErrorCode ?? "(no envelope)"}, expected {c.Code}",
            Expect.Envelope when response.Header("Content-Type")?.StartsWith("application/json", StringComparison.Ordinal) != true => $"content type {response.Header("Content-Type")}",
            Expect.Transport when response.Body.Length != 0 => "Kestrel's own refusal carried a body",
            Expect.Success when response.ErrorCode is not null => $"unexpected error {response.ErrorCode}",
            _ => null,
        };
    }

    /// <summary>
    /// Asks the session what it holds, sends the rest with a Content-Range from there, completes, and reads the blob
    /// back. The server may still be winding down the broken request, so a 416 means "ask again", as a real client does.
    /// </summary>
    private async Task ResumeAndCompleteAsync(string session, TestBlob blob)
    {
        var client = _registry.Client;
        await Poll.UntilAsync(
            async () =>
            {
                var status = await client.GetAsync(session);
                Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
                var range = Assert.Single(status.Headers.GetValues("Range"));
                var end = long.Parse(range.Split('-')[1], System.Globalization.CultureInfo.InvariantCulture);
                var held = range == "0-0" ? 0 : end + 1;
                Assert.InRange(held, 0, blob.Size - 1);

                var rest = new HttpRequestMessage(HttpMethod.Patch, session) { Content = new ByteArrayContent(blob.Bytes[(int)held..]) };
                rest.Content.Headers.TryAddWithoutValidation("Content-Range", $"{held}-{blob.Size - 1}");
                var patched = await client.SendAsync(rest);
                Assert.Contains(patched.StatusCode, new[] { HttpStatusCode.Accepted, HttpStatusCode.RequestedRangeNotSatisfiable });
                return patched.StatusCode == HttpStatusCode.Accepted;
            },
            "the rest of the blob accepted from where the session stands");

        var done = await client.PutAsync($"{session}?digest={blob.Digest}", null);
        Assert.Equal(HttpStatusCode.Created, done.StatusCode);
        Assert.Equal(blob.Bytes, await client.GetByteArrayAsync(done.Headers.Location!.OriginalString));
    }

    private async Task AssertBaseImageIntactAsync()
    {
        var client = _registry.Client;
        Assert.Equal(_image.Manifest.Bytes, await client.GetByteArrayAsync($"/v2/{Base}/manifests/v1"));
        foreach (var blob in _image.Blobs)
        {
            Assert.Equal(blob.Bytes, await client.GetByteArrayAsync($"/v2/{Base}/blobs/{blob.Digest}"));
        }

        var staging = Path.Combine(_registry.DataRoot, "staging");
        Assert.Empty(Directory.Exists(staging) ? Directory.GetFiles(staging) : []);
    }
}
