using Orleans.Coordinator.Grains.Interfaces.Events;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Approvals;

/// <summary>The feed stores sealed pages of 200 events and an open page: reads cross pages, the oldest pages go past 10,000.</summary>
[Collection(InMemoryClusterCollection.Name)]
public sealed class EventFeedPagingTests(InMemoryClusterFixture fixture)
{
    [Fact(Timeout = 120_000)]
    public async Task Reads_CrossSealedPages_InOrder_AndOnlyTheNewest10000AreKept()
    {
        var feed = fixture.Grains.GetGrain<ITenantEventsGrain>(TestKeys.User("tenant"));
        const int total = 10_450;
        for (var i = 1; i <= total; i += 50)
        {
            await Task.WhenAll(Enumerable.Range(i, Math.Min(50, total - i + 1)).Select(n => feed.PublishAsync("load.tick", $$"""{"n":{{n}}}""")));
        }

        var seen = new List<long>();
        var cursor = 0L;
        while (true)
        {
            var page = await feed.ReadAsync(cursor, 500);
            if (page.Events.Length == 0)
            {
                break;
            }

            seen.AddRange(page.Events.Select(e => e.Sequence));
            cursor = page.NextCursor;
        }

        var fromTheMiddle = await feed.ReadAsync(5_190, 20); // across the seal between 5,200 and 5,201

        Assert.Equal(total, seen[^1]);
        Assert.Equal(Enumerable.Range((int)seen[0], seen.Count).Select(n => (long)n), seen); // contiguous, in order
        Assert.InRange(seen.Count, TenantEventLimits.MaxKept - TenantEventLimits.PageSize, TenantEventLimits.MaxKept);
        Assert.Equal(Enumerable.Range(5_191, 20).Select(n => (long)n), fromTheMiddle.Events.Select(e => e.Sequence));
    }

    [Fact(Timeout = 60_000)]
    public async Task PublishOnce_IsDecidedOnTheStoredKeys_EvenForManyKeys()
    {
        var feed = fixture.Grains.GetGrain<ITenantEventsGrain>(TestKeys.User("tenant"));
        for (var i = 0; i < 600; i++)
        {
            await feed.PublishOnceAsync($"task/t/{i}", "task.status_changed", "{}"); // three pages of announcements
        }

        var again = await Task.WhenAll(Enumerable.Range(0, 600).Select(i => feed.PublishOnceAsync($"task/t/{i}", "task.status_changed", "{}")));

        Assert.Equal(Enumerable.Range(1, 600).Select(n => (long)n), again.Select(e => e.Sequence));
        Assert.Equal(600, await feed.LastSequenceAsync());
    }

    [Fact(Timeout = 60_000)]
    public async Task PublishOnce_FindsTheEarlierCopy_AcrossASeal()
    {
        var feed = fixture.Grains.GetGrain<ITenantEventsGrain>(TestKeys.User("tenant"));
        var first = await feed.PublishOnceAsync("task/t/1", "task.status_changed", "{}");
        for (var i = 0; i < TenantEventLimits.PageSize + 10; i++)
        {
            await feed.PublishAsync("load.tick", "{}"); // the first event's page is sealed meanwhile
        }

        var again = await feed.PublishOnceAsync("task/t/1", "task.status_changed", "{}");

        Assert.Equal(first.Sequence, again.Sequence);
        Assert.Equal(TenantEventLimits.PageSize + 11, await feed.LastSequenceAsync());
    }
}
