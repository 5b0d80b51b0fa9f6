using Microsoft.Extensions.Logging;
using Orleans.Coordinator.Grains.Interfaces.Events;

namespace Orleans.Coordinator.Grains.Events;

/// <summary>
/// An announcement stored with the change it reports (a transactional outbox): written in the same state write as the
/// change, then appended to the tenant's feed, then removed. Appending is idempotent by <see cref="SourceKey"/>, so
/// an announcement sent twice (a retry after a lost answer, a second activation) is in the feed once.
/// </summary>
/// <param name="Tenant">The feed's grain key.</param>
/// <param name="SourceKey">What makes it unique, e.g. <c>approval/{id}/decided</c> or <c>task/{key}/{version}</c>.</param>
/// <param name="Type">The event type.</param>
/// <param name="DataJson">The event's data (JSON).</param>
[GenerateSerializer, Immutable, Alias("coordinator.OutboxEvent")]
public sealed record OutboxEvent(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string SourceKey,
    [property: Id(2)] string Type,
    [property: Id(3)] string DataJson);

/// <summary>
/// Relays a grain's stored announcements to the feed: after each change, on activation, and every 5 s while the feed
/// cannot be written (the change stands and its announcement waits in the grain's state, so nothing is lost).
/// </summary>
internal sealed partial class EventOutboxRelay(
    Grain grain,
    IGrainFactory grains,
    ILogger logger,
    Func<IReadOnlyList<OutboxEvent>> pending,
    Func<IReadOnlyCollection<string>, Task> removeAsync)
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);
    private IGrainTimer? _retry;

    /// <summary>
    /// Creates the relay of an activating grain and, when its state holds announcements an earlier activation could not
    /// append, relays them at once.
    /// </summary>
    public static EventOutboxRelay Start(Grain grain, IGrainFactory grains, ILogger logger, Func<IReadOnlyList<OutboxEvent>> pending, Func<IReadOnlyCollection<string>, Task> removeAsync)
    {
        var relay = new EventOutboxRelay(grain, grains, logger, pending, removeAsync);
        if (relay.HasPending)
        {
            relay.ScheduleRetry(TimeSpan.Zero);
        }

        return relay;
    }

    /// <summary>Removes the relayed announcements from a grain's outbox; answers whether any was there (the state changed).</summary>
    public static bool RemoveRelayed(List<OutboxEvent> outbox, IReadOnlyCollection<string> published)
        => outbox.RemoveAll(e => published.Contains(e.SourceKey)) > 0;

    /// <summary>True while announcements wait in the state.</summary>
    public bool HasPending => pending().Count > 0;

    /// <summary>Appends every stored announcement (idempotently) and removes them from the state; on failure retries later.</summary>
    public async Task FlushAsync()
    {
        var events = pending().ToList();
        if (events.Count == 0)
        {
            return;
        }

        var published = new List<string>(events.Count);
        try
        {
            foreach (var e in events)
            {
                await grains.GetGrain<ITenantEventsGrain>(e.Tenant).PublishOnceAsync(e.SourceKey, e.Type, e.DataJson);
                published.Add(e.SourceKey);
            }

            await removeAsync(published);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogRelayFailed(logger, events.Count - published.Count, ex.Message);
            ScheduleRetry();
        }
    }

    /// <summary>Flushes again in 5 s (once; a pending retry is kept); the activation stays while it waits.</summary>
    public void ScheduleRetry(TimeSpan? after = null)
    {
        if (_retry is not null)
        {
            return;
        }

        _retry = grain.RegisterGrainTimer(async _ =>
        {
            _retry?.Dispose();
            _retry = null;
            await FlushAsync();
        }, new GrainTimerCreationOptions { DueTime = after ?? RetryAfter, Period = Timeout.InfiniteTimeSpan, Interleave = false, KeepAlive = true });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} announcements could not be appended to the event feed (kept; retried in 5 s): {Reason}")]
    private static partial void LogRelayFailed(ILogger logger, int count, string reason);
}
