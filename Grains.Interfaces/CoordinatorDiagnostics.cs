using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Orleans.Coordinator.Grains.Interfaces;

/// <summary>
/// The product's one Meter and ActivitySource, both named <c>Orleans.Coordinator</c>. Tags never carry a
/// user, key, token or other caller-supplied value: only the feature and the outcome.
/// </summary>
public static class CoordinatorDiagnostics
{
    /// <summary>The Meter and ActivitySource name.</summary>
    public const string Name = "Orleans.Coordinator";

    /// <summary>The product's meter.</summary>
    public static readonly Meter Meter = new(Name);

    /// <summary>The product's activity source (Redis spans, decisions).</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    /// <summary>Decisions by feature (<c>leases</c>, <c>bytes</c>, <c>ratelimit</c>, <c>tokens</c>, <c>replay</c>, <c>apikeys</c>, <c>authz</c>, <c>locks</c>) and outcome (<c>allowed</c>, <c>denied</c>, <c>degraded</c>, <c>fallback</c>).</summary>
    public static readonly Counter<long> Decisions = Meter.CreateCounter<long>("coordinator.decisions", "{decision}", "Decisions by feature and outcome.");

    /// <summary>Connection leases granted minus released or expired, as seen by the silos' lease grains.</summary>
    public static readonly UpDownCounter<long> ActiveLeases = Meter.CreateUpDownCounter<long>("coordinator.leases.active", "{lease}", "Live connection leases.");

    /// <summary>Tenant cache lookups by result (<c>hit</c>, <c>miss</c>).</summary>
    public static readonly Counter<long> CacheLookups = Meter.CreateCounter<long>("coordinator.cache.lookups", "{lookup}", "Gateway tenant cache lookups by result.");

    /// <summary>Webhook delivery attempts by outcome (<c>delivered</c>, <c>failed</c>, <c>dead_letter</c>: the last attempt failed).</summary>
    public static readonly Counter<long> WebhookAttempts = Meter.CreateCounter<long>("coordinator.webhook.attempts", "{attempt}", "Webhook delivery attempts by outcome.");

    /// <summary>Webhook deliveries dead-lettered after their last attempt (what an alert watches).</summary>
    public static readonly Counter<long> WebhookDeadLetters = Meter.CreateCounter<long>("coordinator.webhook.dead_letters", "{delivery}", "Webhook deliveries dead-lettered after their last attempt.");

    /// <summary>Events a webhook never received because the feed dropped them before it read them (it fell 10,000 events behind).</summary>
    public static readonly Counter<long> WebhookSkipped = Meter.CreateCounter<long>("coordinator.webhook.skipped", "{event}", "Events a webhook missed because the feed no longer kept them.");

    /// <summary>Records one decision.</summary>
    public static void Decision(string feature, bool allowed)
        => Decisions.Add(1, new KeyValuePair<string, object?>("feature", feature), new KeyValuePair<string, object?>("outcome", allowed ? "allowed" : "denied"));
}
