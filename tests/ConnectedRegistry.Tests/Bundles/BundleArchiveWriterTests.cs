using System.Formats.Tar;
using System.Text;
using ConnectedRegistry.Bundles;

namespace ConnectedRegistry.Tests.Bundles;

/// <summary>The bundle's tar is written resumably: a run that stops mid-entry is continued by the next, which keeps the first run's header.</summary>
public sealed class BundleArchiveWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bundle-archive").FullName;

    private string Output => Path.Combine(_dir, "site.tar");

    [Fact]
    public async Task A_run_stopped_mid_entry_is_continued_and_the_tar_holds_every_entry_once()
    {
        using (var first = new BundleArchiveWriter(Output))
        {
            Assert.Null(first.Resume());
            foreach (var header in BundleFormat.HeaderEntries)
            {
                await first.WriteAsync(header, Encoding.UTF8.GetBytes("header " + header), default);
            }

            await first.WriteAsync("blobs/sha256/one", new byte[10_000], default);
            // the second entry's source fails half-way (the parent dropped, the process stopped)
            await Assert.ThrowsAsync<IOException>(() => first.WriteAsync("blobs/sha256/two", new FailingAfter(5_000), default));
        }

        Assert.False(File.Exists(Output));
        using (var second = new BundleArchiveWriter(Output))
        {
            var resumed = second.Resume();
            Assert.NotNull(resumed);
            Assert.Equal("header bundle.json", Encoding.UTF8.GetString(resumed.Value.Descriptor));
            Assert.Equal("header bundle.sig", Encoding.UTF8.GetString(resumed.Value.Signature));
            Assert.Contains("blobs/sha256/one", second.Done);
            Assert.DoesNotContain("blobs/sha256/two", second.Done);
            await second.WriteAsync("blobs/sha256/two", new byte[7_000], default);
            second.Complete();
        }

        Assert.False(File.Exists(Output + ".partial"));
        Assert.False(File.Exists(Output + ".partial.journal"));
        await using var reader = new TarReader(File.OpenRead(Output));
        var entries = new List<(string, long)>();
        while (await reader.GetNextEntryAsync() is { } entry)
        {
            entries.Add((entry.Name, entry.Length));
        }

        Assert.Equal([.. BundleFormat.HeaderEntries.Select(h => (h, (long)("header " + h).Length)), ("blobs/sha256/one", 10_000L), ("blobs/sha256/two", 7_000L)], entries);
    }

    [Fact]
    public async Task A_download_of_known_length_is_one_entry_of_its_bytes_and_one_cut_off_is_left_out_and_written_again()
    {
        var bytes = new byte[300_000];
        Random.Shared.NextBytes(bytes);
        using (var first = new BundleArchiveWriter(Output))
        {
            Assert.Null(first.Resume());
            foreach (var header in BundleFormat.HeaderEntries)
            {
                await first.WriteAsync(header, Encoding.UTF8.GetBytes("header " + header), default);
            }

            await first.WriteAsync("blobs/sha256/a", new Unseekable(new MemoryStream(bytes)), bytes.Length, default);
            await Assert.ThrowsAsync<IOException>(() => first.WriteAsync("blobs/sha256/b", new FailingAfter(5_000), 20_000, default));
        }

        using (var second = new BundleArchiveWriter(Output))
        {
            Assert.NotNull(second.Resume());
            Assert.Contains("blobs/sha256/a", second.Done);
            Assert.DoesNotContain("blobs/sha256/b", second.Done);
            await second.WriteAsync("blobs/sha256/b", new Unseekable(new MemoryStream(new byte[20_000])), 20_000, default);
            second.Complete();
        }

        await using var reader = new TarReader(File.OpenRead(Output));
        var entries = new Dictionary<string, byte[]>();
        while (await reader.GetNextEntryAsync(copyData: true) is { } entry)
        {
            using var content = new MemoryStream();
            await entry.DataStream!.CopyToAsync(content);
            Assert.True(entries.TryAdd(entry.Name, content.ToArray()), $"{entry.Name} is in the tar twice");
        }

        Assert.Equal(bytes, entries["blobs/sha256/a"]);
        Assert.Equal(20_000, entries["blobs/sha256/b"].Length);
    }

    [Fact]
    public void A_finished_bundle_is_never_overwritten()
    {
        File.WriteAllText(Output, "done");
        using var writer = new BundleArchiveWriter(Output);
        Assert.Throws<BundleRefusedException>(() => writer.Resume());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A source that fails after some bytes, as a dropped download does.</summary>
    private sealed class FailingAfter(int bytes) : Stream
    {
        private int _left = bytes;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => 0; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_left == 0)
            {
                throw new IOException("the link dropped");
            }

            var n = Math.Min(count, _left);
            _left -= n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A stream that cannot seek and has no length, as a download's body.</summary>
    private sealed class Unseekable(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
