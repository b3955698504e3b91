using ConnectedRegistry.Sync;
using Microsoft.Data.Sqlite;

namespace ConnectedRegistry.Tests.Sync;

/// <summary>A disk error ends a pass as Unhealthy; a broken transfer from the parent must stay a resumable network error.</summary>
public class LocalStorageExceptionTests
{
    [Fact]
    public void Write_errors_of_the_disk_are_disk_errors()
    {
        Assert.True(LocalStorageException.IsDiskError(new IOException("No space left on device")));
        Assert.True(LocalStorageException.IsDiskError(new UnauthorizedAccessException("read-only file system")));
        Assert.True(LocalStorageException.IsDiskError(new DirectoryNotFoundException()));
        Assert.True(LocalStorageException.IsDiskError(new SqliteException("database or disk is full", 13)));
        Assert.True(LocalStorageException.IsDiskError(new SqliteException("attempt to write a readonly database", 8)));
    }

    [Fact]
    public void A_failed_read_from_the_parent_and_other_errors_are_not()
    {
        Assert.False(LocalStorageException.IsDiskError(new ParentReadException(new IOException("connection reset by peer"))));
        Assert.False(LocalStorageException.IsDiskError(new HttpRequestException("connection refused")));
        Assert.False(LocalStorageException.IsDiskError(new SqliteException("UNIQUE constraint failed", 19)));
        Assert.False(LocalStorageException.IsDiskError(new InvalidOperationException()));
    }

    [Fact]
    public void A_parent_read_failure_stays_an_IOException_so_the_blob_resumes()
    {
        var read = new ParentReadException(new HttpRequestException("response ended prematurely"));
        Assert.IsAssignableFrom<IOException>(read);
        Assert.Equal("response ended prematurely", read.Message);
        Assert.Equal("writing to the data folder failed: disk full", new LocalStorageException(new IOException("disk full")).Message);
    }
}
