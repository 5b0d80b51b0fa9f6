using Orleans.Coordinator.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Leases;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Connection leases and byte budgets under the failure contract: the user's grains when the cluster answers;
/// the Redis fallback counters when it does not (limits from the last answer this gateway saw for the user, or
/// the <c>Leases</c> defaults); refused (or allowed, if so configured) when Redis is down too.
/// Lease ids minted by the fallback start with <see cref="GrainKeys.FallbackIdPrefix"/> and are always renewed
/// and released in Redis, whatever the mode by then.
/// </summary>
public sealed class ResilientUsers(IGrainFactory grains, ResilienceState state, IServiceProvider services, IOptions<LeaseOptions> leaseOptions)
{
    private static readonly System.Diagnostics.Metrics.Counter<long> OrphansReleased = CoordinatorDiagnostics.Meter.CreateCounter<long>(
        "coordinator.resilience.orphans_released", "{lease}", "Leases the grains granted after the caller had been answered by the fallback, released again.");

    private readonly Remembered<int> _limits = new(state.Options.RememberedEntries);
    private readonly LeaseOptions _defaults = leaseOptions.Value;

    private FallbackStore Fallback => services.GetRequiredService<FallbackStore>();

    /// <summary>Takes a lease.</summary>
    public async Task<(LeaseAcquireResult Result, ServedMode Mode)> AcquireAsync(string user, string instanceId, long? ttlMs)
    {
        var ttl = ttlMs ?? (long)_defaults.DefaultTtl.TotalMilliseconds;
        // The gateway names the lease, so that if it stops waiting for the grain it can take that very lease back.
        var leaseId = GrainKeys.NewOpaqueId();
        Task<LeaseAcquireResult>? grainCall = null;
        (LeaseAcquireResult Value, ServedMode Mode) answer = default;
        var answeredByGrain = false;
        try
        {
            answer = await state.DecideAsync(
                state.Options.Leases,
                state.Options.LeasesWithoutRedis,
                () => grainCall = grains.Get<IUserLeaseGrain>(user).TryAcquireLeaseAsync(new LeaseAcquireRequest(instanceId, ttlMs, leaseId)),
                async () =>
                {
                    var r = await Fallback.AcquireLeaseAsync(user, Limit(user), ttl, instanceId);
                    return new LeaseAcquireResult(r.Granted, r.LeaseId, r.Active, r.Limit, r.ExpiresAtMs);
                },
                () => new LeaseAcquireResult(true, GrainKeys.NewFallbackId(), 0, Limit(user), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + ttl));
            answeredByGrain = answer.Mode == ServedMode.Normal;
        }
        finally
        {
            if (!answeredByGrain && grainCall is not null)
            {
                // This caller was not answered by the grain (timeout, or an error after it): if the grain grants
                // the slot anyway, give it back.
                _ = ReleaseOrphanAsync(user, leaseId, grainCall);
            }
        }

        if (answer.Mode == ServedMode.Normal)
        {
            _limits.Set(user, answer.Value.Limit);
        }

        return answer;
    }

    /// <summary>
    /// Takes back a lease the caller was not told about. Waits for the grain's answer first (a release that overtook
    /// the acquire would otherwise free nothing); when that answer never comes (the call timed out, the acquire may
    /// still be queued at the grain), releases by id anyway: the grain then refuses the late acquire of that id.
    /// </summary>
    private async Task ReleaseOrphanAsync(string user, string leaseId, Task<LeaseAcquireResult> late)
    {
        try
        {
            var answer = await late;
            if (!answer.Granted)
            {
                return;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Unknown outcome: release below.
        }

        for (var attempt = 1; attempt <= 3; attempt++)
        {
            try
            {
                if (await grains.Get<IUserLeaseGrain>(user).ReleaseLeaseAsync(leaseId))
                {
                    OrphansReleased.Add(1);
                }

                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException && attempt < 3)
            {
                await Task.Delay(TimeSpan.FromSeconds(attempt));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The cluster stays unreachable: the lease, if granted, ends at its ttl.
            }
        }
    }

    /// <summary>Extends a lease; <c>Found</c> false when it is unknown or expired.</summary>
    public async Task<(LeaseRenewResult Result, ServedMode Mode)> RenewAsync(string user, string leaseId, long? ttlMs)
    {
        if (!state.IsFallbackId(leaseId))
        {
            return (await state.CallClusterAsync(() => grains.Get<IUserLeaseGrain>(user).RenewLeaseAsync(leaseId, ttlMs)), ServedMode.Normal);
        }

        var expires = await Fallback.RenewLeaseAsync(user, leaseId, ttlMs ?? (long)_defaults.DefaultTtl.TotalMilliseconds);
        return (new LeaseRenewResult(expires > 0, expires), ServedMode.Fallback);
    }

    /// <summary>Releases a lease; false when it was not held.</summary>
    public async Task<(bool Released, ServedMode Mode)> ReleaseAsync(string user, string leaseId)
        => state.IsFallbackId(leaseId)
            ? (await Fallback.ReleaseLeaseAsync(user, leaseId), ServedMode.Fallback)
            : (await state.CallClusterAsync(() => grains.Get<IUserLeaseGrain>(user).ReleaseLeaseAsync(leaseId)), ServedMode.Normal);

    /// <summary>
    /// The user's live leases, the grain's and the fallback's (the grain lists both, so every view of a user counts
    /// the same leases). A listing is not a decision: it waits for the grain (the cluster's response timeout), so a
    /// listing is complete or an error, never a partial answer.
    /// </summary>
    public async Task<LeaseSnapshot> ListAsync(string user)
    {
        var snapshot = await grains.Get<IUserLeaseGrain>(user).GetSnapshotAsync();
        _limits.Set(user, snapshot.Limit);
        return snapshot;
    }

    /// <summary>Charges bytes against the user's budget.</summary>
    public async Task<(ByteBudgetResult Result, ServedMode Mode)> ConsumeBytesAsync(string user, long bytes)
    {
        var answer = await state.DecideAsync(
            state.Options.ByteBudgets,
            state.Options.ByteBudgetsWithoutRedis,
            () => grains.Get<IUserByteBudgetGrain>(user).ConsumeBytesAsync(bytes),
            async () =>
            {
                var r = await Fallback.ConsumeBytesAsync(user, _defaults.DefaultByteBudget, (long)_defaults.DefaultBudgetWindow.TotalMilliseconds, bytes);
                return new ByteBudgetResult(r.Allowed, r.Used, r.Budget, Math.Max(0, r.Budget - r.Used), r.ResetAtMs);
            },
            () => new ByteBudgetResult(true, 0, _defaults.DefaultByteBudget, _defaults.DefaultByteBudget, 0));
        return answer;
    }

    private int Limit(string user) => _limits.TryGet(user, out var limit) ? limit : _defaults.DefaultMaxConnections;
}
