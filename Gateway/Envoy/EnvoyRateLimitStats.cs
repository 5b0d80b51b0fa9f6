using System.Diagnostics;
using System.Diagnostics.Metrics;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Envoy;

/// <summary>
/// Per-rule statistics as envoyproxy/ratelimit names them, in hits (a request's <c>hits_addend</c>), exported on
/// <c>/metrics</c> as <c>coordinator_ratelimit_total_hits_total</c>, <c>..._over_limit_total</c>,
/// <c>..._near_limit_total</c>, <c>..._within_limit_total</c> and <c>..._shadow_mode_total</c> with the labels
/// <c>domain</c> and <c>rule</c> (the rule's path, e.g. <c>database_users.client_id</c>); a rule with
/// <c>detailed_metric</c> adds <c>descriptor</c> (the request's values), so cardinality stays bounded by the rules unless
/// a rule asks for more. <c>near_limit</c>: within the limit with at least <c>RateLimit:NearLimitRatio</c> (0.8) of it used.
/// </summary>
internal static class EnvoyRateLimitStats
{
    private static readonly Counter<long> TotalHits = Create("total_hits", "Hits of requests matching the rule.");
    private static readonly Counter<long> OverLimit = Create("over_limit", "Hits over the rule's limit (refused, or reported in shadow mode).");
    private static readonly Counter<long> NearLimit = Create("near_limit", "Hits within the limit with at least the near-limit ratio of it used.");
    private static readonly Counter<long> WithinLimit = Create("within_limit", "Hits within the rule's limit.");
    private static readonly Counter<long> ShadowMode = Create("shadow_mode", "Hits over the limit of a rule in shadow mode (answered OK).");

    /// <summary>Records one descriptor's outcome under its rule.</summary>
    /// <param name="domain">The request's domain.</param>
    /// <param name="rule">The matched rule's path (or the entry keys when only an override applied).</param>
    /// <param name="descriptor">The descriptor's values, recorded only for a <c>detailed_metric</c> rule; null otherwise.</param>
    /// <param name="hits">The hits it carried.</param>
    /// <param name="over">It was over the limit.</param>
    /// <param name="shadow">Its rule is in shadow mode.</param>
    /// <param name="nearLimit">Within the limit, past the near-limit ratio.</param>
    public static void Record(string domain, string rule, string? descriptor, long hits, bool over, bool shadow, bool nearLimit)
    {
        var tags = descriptor is null
            ? new TagList { { "domain", domain }, { "rule", rule } }
            : new TagList { { "domain", domain }, { "rule", rule }, { "descriptor", descriptor } };
        TotalHits.Add(hits, tags);
        if (over)
        {
            OverLimit.Add(hits, tags);
            if (shadow)
            {
                ShadowMode.Add(hits, tags);
            }
        }
        else
        {
            WithinLimit.Add(hits, tags);
            if (nearLimit)
            {
                NearLimit.Add(hits, tags);
            }
        }
    }

    /// <summary>True when <paramref name="result"/>, within its limit, has used at least <paramref name="ratio"/> of it.</summary>
    public static bool IsNearLimit(RateLimitResult result, double ratio)
        => !result.OverLimit && result.Limit > 0 && result.Limit - result.Remaining >= ratio * result.Limit;

    private static Counter<long> Create(string name, string description)
        => CoordinatorDiagnostics.Meter.CreateCounter<long>($"coordinator.ratelimit.{name}", "{hit}", description);
}
