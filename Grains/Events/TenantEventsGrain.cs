using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Events;
using Orleans.Coordinator.Grains.Interfaces.Webhooks;

namespace Orleans.Coordinator.Grains.Events;

/// <summary>A tenant's persisted event feed.</summary>
[GenerateSerializer, Alias("coordinator.TenantEventsState")]
public sealed class TenantEventsState
{
    /// <summary>The newest events, oldest first.</summary>
    [Id(0)]
    public List<TenantEvent> Events { get; set; } = [];

    /// <summary>The last sequence handed out.</summary>
    [Id(1)]
    public long Sequence { get; set; }

    /// <summary>How far readers acknowledged.</summary>
    [Id(2)]
    public long Acknowledged { get; set; }
}

/// <summary>Single writer over a tenant's feed; every append and acknowledgement persisted before the answer.</summary>
internal sealed class TenantEventsGrain(
    [PersistentState("events", CoordinatorStorage.Name)] IPersistentState<TenantEventsState> state,
    CoordinatorClock clock) : Grain, ITenantEventsGrain
{
    private Dictionary<string, TenantEvent>? _bySourceKey;

    public Task<TenantEvent> PublishAsync(string type, string dataJson) => AppendAsync(null, type, dataJson);

    public Task<TenantEvent> PublishOnceAsync(string sourceKey, string type, string dataJson)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceKey);
        return BySourceKey().TryGetValue(sourceKey, out var existing) ? Task.FromResult(existing) : AppendAsync(sourceKey, type, dataJson);
    }

    private async Task<TenantEvent> AppendAsync(string? sourceKey, string type, string dataJson)
    {
        var published = await state.UpdateAsync(s =>
        {
            var e = new TenantEvent(s.Sequence + 1, type, clock.NowMs, dataJson, sourceKey);
            s.Sequence = e.Sequence;
            s.Events.Add(e);
            if (s.Events.Count > TenantEventLimits.MaxKept)
            {
                s.Events.RemoveRange(0, s.Events.Count - TenantEventLimits.MaxKept);
            }

            return (e, true);
        });
        _bySourceKey = null; // rebuilt from the kept events when next needed (a write may have reloaded them)

        // A one-way hint to the tenant's webhooks, after the event is stored (they read it from here).
        _ = GrainFactory.GetGrain<ITenantWebhooksGrain>(this.GetPrimaryKeyString()).EventPublishedAsync(type);
        return published;
    }

    private Dictionary<string, TenantEvent> BySourceKey()
        => _bySourceKey ??= state.State.Events.Where(e => e.SourceKey is not null).ToDictionary(e => e.SourceKey!, StringComparer.Ordinal);

    public Task<long> LastSequenceAsync() => Task.FromResult(state.State.Sequence);

    public Task<TenantEventPage> ReadAsync(long? after, int limit)
    {
        if (limit is < 1 or > TenantEventLimits.MaxPage)
        {
            throw new CoordinatorValidationException("limit", $"limit must be between 1 and {TenantEventLimits.MaxPage}.");
        }

        var from = after ?? state.State.Acknowledged;
        var page = state.State.Events.Where(e => e.Sequence > from).Take(limit).ToArray();
        return Task.FromResult(new TenantEventPage(page, page.Length > 0 ? page[^1].Sequence : Math.Max(from, 0), state.State.Acknowledged));
    }

    public Task<long> AckAsync(long upTo)
        => state.UpdateAsync(s =>
        {
            var acknowledged = Math.Clamp(upTo, s.Acknowledged, s.Sequence);
            var changed = acknowledged != s.Acknowledged;
            s.Acknowledged = acknowledged;
            return (acknowledged, changed);
        });
}
