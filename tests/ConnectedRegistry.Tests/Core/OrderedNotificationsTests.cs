using ConnectedRegistry.Core;

namespace ConnectedRegistry.Tests.Core;

public class OrderedNotificationsTests
{
    [Fact]
    public void Posted_notifications_wait_for_deliver_and_run_in_order()
    {
        var notifications = new OrderedNotifications();
        var seen = new List<int>();

        notifications.Post(() => seen.Add(1));
        notifications.Post(() => seen.Add(2));
        Assert.Empty(seen);

        notifications.Deliver();
        Assert.Equal([1, 2], seen);

        notifications.Deliver();
        Assert.Equal([1, 2], seen);
    }

    [Fact]
    public void A_notification_posted_during_delivery_runs_after_the_current_one_not_inside_it()
    {
        var notifications = new OrderedNotifications();
        var seen = new List<string>();
        notifications.Post(() =>
        {
            seen.Add("first begins");
            notifications.Post(() => seen.Add("second"));
            notifications.Deliver();
            seen.Add("first ends");
        });

        notifications.Deliver();

        Assert.Equal(["first begins", "first ends", "second"], seen);
    }

    [Fact]
    public void A_throwing_notification_reaches_the_caller_and_the_next_one_stays_queued()
    {
        var notifications = new OrderedNotifications();
        var seen = new List<int>();
        notifications.Post(() => throw new InvalidOperationException("subscriber failed"));
        notifications.Post(() => seen.Add(2));

        Assert.Equal("subscriber failed", Assert.Throws<InvalidOperationException>(notifications.Deliver).Message);
        Assert.Empty(seen);

        notifications.Deliver();
        Assert.Equal([2], seen);
    }
}
