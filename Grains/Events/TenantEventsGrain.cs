using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Events;
using Orleans.Coordinator.Grains.Interfaces.Webhooks;

namespace Orleans.Coordinator.Grains.Events;

/// <summary>A tenant's persisted event feed: its open page and where the sealed pages end.</summary>
[GenerateSerializer, Alias("coordinator.TenantEventsState")]
public sealed class TenantEventsState
{
    /// <summary>The open page's events (sequences after <see cref="SealedThrough"/>), oldest first.</summary>
    [Id(0)]
    public List<TenantEvent> Events { get; set; } = [];

    /// <summary>The last sequence handed out.</summary>
    [Id(1)]
    public long Sequence { get; set; }

    /// <summary>How far readers acknowledged.</summary>
    [Id(2)]
    public long Acknowledged { get; set; }

    /// <summary>Events up to this sequence (a multiple of the page size) are in sealed pages.</summary>
    [Id(3)]
    public long SealedThrough { get; set; }

    /// <summary>The source keys of the newest coordinator events and their sequences, oldest first (at most 1,024).</summary>
    [Id(4)]
    public List<RecentSourceKey> RecentSourceKeys { get; set; } = [];
}

/// <summary>A coordinator event's source key and sequence (what makes <c>PublishOnce</c> idempotent).</summary>
[GenerateSerializer, Immutable, Alias("coordinator.RecentSourceKey")]
public sealed record RecentSourceKey([property: Id(0)] string Key, [property: Id(1)] long Sequence);

/// <summary>A sealed page's persisted events.</summary>
[GenerateSerializer, Alias("coordinator.TenantEventPageState")]
public sealed class TenantEventPageState
{
    /// <summary>The page's events, oldest first.</summary>
    [Id(0)]
    public TenantEvent[] Events { get; set; } = [];
}

/// <summary>
/// Single writer over a tenant's feed; every append and acknowledgement persisted before the answer. An append writes
/// the open page only (at most 200 events); a full page is sealed into its own grain first, and pages older than the
/// newest 10,000 events are dropped, so no write grows with the feed.
/// </summary>
internal sealed partial class TenantEventsGrain(
    [PersistentState("events", CoordinatorStorage.Name)] IPersistentState<TenantEventsState> state,
    CoordinatorClock clock,
    Microsoft.Extensions.Logging.ILogger<TenantEventsGrain> logger) : Grain, ITenantEventsGrain
{
    private const int PageSize = TenantEventLimits.PageSize;
    private const int MaxSealedPages = (TenantEventLimits.MaxKept / PageSize) - 1;
    private const int MaxSourceKeys = 1_024;
    private const int MaxSealsPerAppend = 4;

    public Task<TenantEvent> PublishAsync(string type, string dataJson) => AppendAsync(null, type, dataJson);

    public async Task<TenantEvent> PublishOnceAsync(string sourceKey, string type, string dataJson)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceKey);
        // The newest 1,024 coordinator events' keys are kept: announcements are relayed soon after their change.
        return state.State.RecentSourceKeys.Find(k => k.Key == sourceKey) is { } known
            ? await EventAsync(known.Sequence, sourceKey, type, dataJson)
            : await AppendAsync(sourceKey, type, dataJson);
    }

    private async Task<TenantEvent> AppendAsync(string? sourceKey, string type, string dataJson)
    {
        await SealFullPagesAsync();
        var published = await state.UpdateAsync(s =>
        {
            // Decided on what is stored (a reload after a conflicting write may hold this key already).
            if (sourceKey is not null && s.RecentSourceKeys.Find(k => k.Key == sourceKey) is { } known)
            {
                return (s.Events.Find(e => e.Sequence == known.Sequence) ?? new TenantEvent(known.Sequence, type, 0, dataJson, sourceKey), false);
            }

            var e = new TenantEvent(s.Sequence + 1, type, clock.NowMs, dataJson, sourceKey);
            s.Sequence = e.Sequence;
            s.Events.Add(e);
            if (sourceKey is not null)
            {
                s.RecentSourceKeys.Add(new RecentSourceKey(sourceKey, e.Sequence));
                if (s.RecentSourceKeys.Count > MaxSourceKeys)
                {
                    s.RecentSourceKeys.RemoveRange(0, s.RecentSourceKeys.Count - MaxSourceKeys);
                }
            }

            return (e, true);
        });

        // A one-way hint to the tenant's webhooks, after the event is stored (they read it from here).
        _ = GrainFactory.GetGrain<ITenantWebhooksGrain>(this.GetPrimaryKeyString()).EventPublishedAsync(type);
        return published;
    }

    /// <summary>The stored event of <paramref name="sequence"/> (from its page), or its key's stand-in when the feed no longer keeps it.</summary>
    private async Task<TenantEvent> EventAsync(long sequence, string sourceKey, string type, string dataJson)
    {
        if (sequence > state.State.SealedThrough)
        {
            return state.State.Events.Find(e => e.Sequence == sequence) ?? new TenantEvent(sequence, type, 0, dataJson, sourceKey);
        }

        var page = await Page((sequence - 1) / PageSize).GetAsync();
        return Array.Find(page, e => e.Sequence == sequence) ?? new TenantEvent(sequence, type, 0, dataJson, sourceKey);
    }

    public async Task<TenantEventPage> ReadAsync(long? after, int limit)
    {
        if (limit is < 1 or > TenantEventLimits.MaxPage)
        {
            throw new CoordinatorValidationException("limit", $"limit must be between 1 and {TenantEventLimits.MaxPage}.");
        }

        var from = Math.Max(after ?? state.State.Acknowledged, 0);
        var sealedThrough = state.State.SealedThrough;
        var oldestPage = Math.Max(0, (sealedThrough / PageSize) - MaxSealedPages);
        var cursor = Math.Max(from, oldestPage * PageSize); // older pages were dropped
        var page = new List<TenantEvent>(Math.Min(limit, 64));
        while (page.Count < limit && cursor < sealedThrough)
        {
            var index = cursor / PageSize;
            var events = await Page(index).GetAsync();
            page.AddRange(events.Where(e => e.Sequence > cursor).Take(limit - page.Count));
            cursor = (index + 1) * PageSize;
        }

        if (page.Count < limit)
        {
            var floor = page.Count > 0 ? page[^1].Sequence : from;
            page.AddRange(state.State.Events.Where(e => e.Sequence > floor).Take(limit - page.Count));
        }

        return new TenantEventPage([.. page], page.Count > 0 ? page[^1].Sequence : from, state.State.Acknowledged);
    }

    public Task<long> LastSequenceAsync() => Task.FromResult(state.State.Sequence);

    public Task<long> AckAsync(long upTo)
        => state.UpdateAsync(s =>
        {
            var acknowledged = Math.Clamp(upTo, s.Acknowledged, s.Sequence);
            var changed = acknowledged != s.Acknowledged;
            s.Acknowledged = acknowledged;
            return (acknowledged, changed);
        });

    /// <summary>
    /// Moves complete pages out of the open page (at most 4 per append): the page grain is written first, then the open
    /// page. A feed stored before pages existed starts at the page of its oldest kept event.
    /// </summary>
    private async Task SealFullPagesAsync()
    {
        var oldest = state.State.Events.Count > 0 ? state.State.Events[0].Sequence : state.State.Sequence + 1;
        var floor = (oldest - 1) / PageSize * PageSize;
        if (state.State.SealedThrough < floor)
        {
            await state.UpdateAsync(s =>
            {
                var changed = s.SealedThrough < floor;
                s.SealedThrough = Math.Max(s.SealedThrough, floor);
                return (true, changed);
            });
        }

        for (var sealedNow = 0; sealedNow < MaxSealsPerAppend && state.State.Sequence >= state.State.SealedThrough + PageSize; sealedNow++)
        {
            var end = state.State.SealedThrough + PageSize;
            var index = state.State.SealedThrough / PageSize;
            var sealing = state.State.Events.Where(e => e.Sequence <= end).ToArray();
            if (sealing.Length > 0)
            {
                await Page(index).SealAsync(sealing);
            }

            await state.UpdateAsync(s =>
            {
                if (s.SealedThrough >= end)
                {
                    return (true, false); // another activation sealed it
                }

                s.Events.RemoveAll(e => e.Sequence <= end);
                s.SealedThrough = end;
                return (true, true);
            });
            if (index - MaxSealedPages >= 0)
            {
                try
                {
                    await Page(index - MaxSealedPages).DropAsync();
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // Not kept anyway: readers skip pages older than the newest 10,000 events.
                    LogDropFailed(logger, index - MaxSealedPages, ex.Message);
                }
            }
        }
    }

    private ITenantEventPageGrain Page(long index)
        => GrainFactory.GetGrain<ITenantEventPageGrain>($"{GrainKeys.EscapeKeyPart(this.GetPrimaryKeyString())}/{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Warning, Message = "Could not drop event page {Page} (it is skipped by readers): {Reason}")]
    private static partial void LogDropFailed(Microsoft.Extensions.Logging.ILogger logger, long page, string reason);
}

/// <summary>One sealed page of a tenant's feed; written once (or again with the same events), read by the feed.</summary>
internal sealed class TenantEventPageGrain(
    [PersistentState("eventPage", CoordinatorStorage.Name)] IPersistentState<TenantEventPageState> state) : Grain, ITenantEventPageGrain
{
    public async Task SealAsync(TenantEvent[] events)
    {
        try
        {
            state.State.Events = events;
            await state.WriteStateAsync();
        }
        catch (Orleans.Storage.InconsistentStateException)
        {
            // Another activation sealed it (the same events): write over what it wrote.
            await state.ReadStateAsync();
            state.State.Events = events;
            await state.WriteStateAsync();
        }
    }

    public Task<TenantEvent[]> GetAsync() => Task.FromResult(state.State.Events);

    public async Task DropAsync()
    {
        await state.ClearStateAsync();
        state.State = new TenantEventPageState();
        DeactivateOnIdle();
    }
}
