namespace ConnectedRegistry.Core;

/// <summary>
/// Delivers change notifications outside the lock that made the changes, in the order the changes were
/// made. A writer posts a notification while it holds its own lock (so the order of the posts is the order
/// of the changes) and calls <see cref="Deliver"/> once it released that lock. One thread delivers at a
/// time, each notification completely before the next, so a subscriber is never called concurrently with
/// itself and every subscriber sees A before B. A thread that finds a delivery under way leaves its
/// notifications to that thread and returns: a subscriber that makes a change itself, or waits for another
/// thread that does, cannot deadlock; its change is delivered right after the current one.
/// </summary>
public sealed class OrderedNotifications
{
    private readonly Lock _gate = new();
    private readonly Queue<Action> _pending = new();
    private bool _delivering;

    /// <summary>Queues a notification; call under the lock that orders the changes.</summary>
    public void Post(Action notification)
    {
        lock (_gate)
        {
            _pending.Enqueue(notification);
        }
    }

    /// <summary>Runs the queued notifications in order, unless another call is already running them.</summary>
    public void Deliver()
    {
        lock (_gate)
        {
            if (_delivering)
            {
                return;
            }

            _delivering = true;
        }

        var done = false;
        try
        {
            while (true)
            {
                Action next;
                lock (_gate)
                {
                    if (!_pending.TryDequeue(out next!))
                    {
                        _delivering = false;
                        done = true;
                        return;
                    }
                }

                next();
            }
        }
        finally
        {
            if (!done)
            {
                // A subscriber threw: the exception goes to the caller as before; later notifications stay queued for the next Deliver.
                lock (_gate)
                {
                    _delivering = false;
                }
            }
        }
    }
}
