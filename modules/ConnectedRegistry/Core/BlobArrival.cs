namespace ConnectedRegistry.Core;

/// <summary>
/// The bytes of one blob download as they land in its partial file: how many are written and hashed
/// (<see cref="Length"/>), a wait for more that the writer signals (no polling), and the verdict on the digest
/// (<see cref="Verified"/>), which comes before the blob is flushed and stored, so a reader can send the last bytes
/// as soon as they are known to be right. One per attempt that writes from byte 0: when a download starts over
/// (the bytes did not match), readers of the old one are failed and new readers get the new one.
/// </summary>
public sealed class BlobArrival
{
    private readonly TaskCompletionSource _verified = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _length;

    /// <summary>An arrival that is already complete: the blob is stored with <paramref name="length"/> bytes.</summary>
    public static BlobArrival Complete(long length)
    {
        var arrival = new BlobArrival();
        arrival.Advance(length);
        arrival.SetVerified();
        return arrival;
    }

    /// <summary>Bytes of the partial file that are written and hashed, from byte 0.</summary>
    public long Length => Volatile.Read(ref _length);

    /// <summary>Completes once the bytes matched the digest; faults when the download failed or did not match.</summary>
    public Task Verified => _verified.Task;

    /// <summary>Completes when <see cref="Length"/> exceeds <paramref name="known"/> or the download ended (either way).</summary>
    public Task WaitBeyondAsync(long known, CancellationToken cancellationToken)
    {
        // Read the signal before the length: a writer sets the length first, then completes the signal it replaces.
        var next = Volatile.Read(ref _next).Task;
        if (Length > known || _verified.Task.IsCompleted)
        {
            return Task.CompletedTask;
        }

        return Task.WhenAny(next, _verified.Task).WaitAsync(cancellationToken);
    }

    /// <summary>The writer: <paramref name="length"/> bytes from byte 0 are in the file and hashed.</summary>
    public void Advance(long length)
    {
        Volatile.Write(ref _length, length);
        Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>The writer: the whole blob is written and matched its digest.</summary>
    public void SetVerified() => _verified.TrySetResult();

    /// <summary>The writer: the bytes will not become the blob (a failure, a mismatch); readers must not finish.</summary>
    public void Fail(Exception reason)
    {
        if (_verified.TrySetException(reason))
        {
            _ = _verified.Task.Exception; // observed: readers look at the state, not the exception
        }
    }
}
