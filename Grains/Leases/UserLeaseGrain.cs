using Orleans.Coordinator.Grains.Interfaces.Configuration;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Coordination;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using Orleans.Storage;

namespace Orleans.Coordinator.Grains.Leases;

/// <summary>
/// Single writer over one user's <see cref="ConnectionLeaseBook"/>. Every change it acknowledges is
/// written with an ETag check first; if another activation wrote in between (a duplicate activation
/// during a membership change), the write fails, the grain reloads and decides again on fresh state.
/// </summary>
internal sealed partial class UserLeaseGrain(
    [PersistentState("leases", CoordinatorStorage.Name)] IPersistentState<UserLeaseState> state,
    CoordinatorClock clock,
    IFallbackLeases fallbackLeases,
    IOptions<LeaseOptions> options,
    ILogger<UserLeaseGrain> logger) : Grain, IUserLeaseGrain
{
    private const int MaxWriteAttempts = 3;

    private ConnectionLeaseBook? _book;
    private bool _mustReload;

    private int Limit => state.State.MaxConnections ?? options.Value.DefaultMaxConnections;

    public async Task<LeaseAcquireResult> TryAcquireLeaseAsync(LeaseAcquireRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!GrainKeys.TryInstanceId(request.InstanceId, out var instanceId, out var error))
        {
            throw new CoordinatorValidationException("instanceId", error);
        }

        LeaseLimits.ValidateTtl(request.TtlMs);
        var ttl = request.TtlMs ?? (long)options.Value.DefaultTtl.TotalMilliseconds;

        // Before the first lease from an instance, record this user in that instance's lease index (durably),
        // so the instance's death or goodbye finds and releases it.
        var user = this.GetPrimaryKeyString();
        if (!(await GetBookAsync()).HasLiveLeaseFrom(instanceId, clock.NowMs))
        {
            await GrainFactory.GetGrain<IInstanceLeaseIndexGrain>(InstanceKeys.LeaseIndex(instanceId, user)).TrackAsync(user);
        }

        // Leases a gateway granted from its Redis fallback while it could not reach the cluster count too.
        var heldElsewhere = await fallbackLeases.CountLiveAsync(user, clock.NowMs);
        return await UpdateAsync((book, now) =>
        {
            var pruned = book.PruneExpired(now);
            var decision = book.TryAcquire(now, NewLeaseId(), instanceId, ttl, Limit, heldElsewhere);
            LeasesChanged((decision.Granted ? 1 : 0) - pruned);
            var result = new LeaseAcquireResult(
                decision.Granted, decision.Lease?.LeaseId, decision.Active, decision.Limit,
                decision.Granted ? decision.Lease!.ExpiresAtMs : decision.EarliestExpiryMs);
            return (result, decision.Granted || pruned > 0);
        });
    }

    public Task<LeaseRenewResult> RenewLeaseAsync(string leaseId, long? ttlMs = null)
    {
        LeaseLimits.ValidateTtl(ttlMs);
        return UpdateAsync((book, now) =>
        {
            var renewed = book.Renew(now, leaseId, ttlMs);
            var pruned = book.PruneExpired(now);
            return renewed is null
                ? (new LeaseRenewResult(false, 0), pruned > 0)
                : (new LeaseRenewResult(true, renewed.ExpiresAtMs), true);
        });
    }

    public Task<bool> ReleaseLeaseAsync(string leaseId)
        => UpdateAsync((book, now) =>
        {
            var released = book.Release(leaseId);
            var pruned = book.PruneExpired(now);
            LeasesChanged(-(released ? 1 : 0) - pruned);
            return (released, released || pruned > 0);
        });

    public Task<int> ReleaseInstanceLeasesAsync(string instanceId)
        => UpdateAsync((book, now) =>
        {
            var released = book.ReleaseHeldBy(instanceId);
            var pruned = book.PruneExpired(now);
            LeasesChanged(-released - pruned);
            return (released, released + pruned > 0);
        });

    public Task SetConnectionLimitAsync(int? maxConnections)
    {
        LeaseLimits.ValidateLimits(new UserLimits(maxConnections, null, null));
        return UpdateAsync((_, _) =>
        {
            var changed = state.State.MaxConnections != maxConnections;
            state.State.MaxConnections = maxConnections;
            return (true, changed);
        });
    }

    public async Task<LeaseSnapshot> GetSnapshotAsync()
    {
        var book = await GetBookAsync();
        var now = clock.NowMs;
        var live = book.Leases
            .Where(l => !l.IsExpired(now))
            .OrderBy(l => l.AcquiredAtMs)
            .Select(l => new LeaseInfo(l.LeaseId, l.InstanceId, l.AcquiredAtMs, l.ExpiresAtMs))
            .ToList();
        return new LeaseSnapshot(live.Count, Limit, live);
    }

    /// <summary>
    /// Runs a decision against the book and, when it changed something, persists before answering.
    /// Nothing is acknowledged that is not durable.
    /// </summary>
    private async Task<T> UpdateAsync<T>(Func<ConnectionLeaseBook, long, (T Result, bool Changed)> decide)
    {
        for (var attempt = 1; ; attempt++)
        {
            var book = await GetBookAsync();
            var (result, changed) = decide(book, clock.NowMs);
            if (!changed)
            {
                return result;
            }

            state.State.Leases = [.. book.Leases.Select(ToEntry)];
            try
            {
                await state.WriteStateAsync();
                state.State.Leases = null; // the book is the in-memory copy; the list is filled for each write only
                return result;
            }
            catch (InconsistentStateException ex) when (attempt < MaxWriteAttempts)
            {
                // Another activation of this user wrote first: decide again on what it wrote.
                LogStaleWrite(logger, this.GetPrimaryKeyString(), attempt, ex.Message);
                _mustReload = true;
            }
            catch
            {
                // The change is not durable, so it did not happen: forget it and reload next time.
                _mustReload = true;
                throw;
            }
        }
    }

    private async ValueTask<ConnectionLeaseBook> GetBookAsync()
    {
        if (_mustReload)
        {
            await state.ReadStateAsync();
            _mustReload = false;
            _book = null;
        }

        if (_book is null)
        {
            _book = new ConnectionLeaseBook((state.State.Leases ?? []).Select(e =>
                new ConnectionLease(e.LeaseId, e.InstanceId, e.TtlMs, e.AcquiredAtMs, e.ExpiresAtMs)));
            state.State.Leases = null; // one copy in memory: the book's
        }

        return _book;
    }

    private static LeaseEntry ToEntry(ConnectionLease lease) => new()
    {
        LeaseId = lease.LeaseId,
        InstanceId = lease.InstanceId,
        TtlMs = lease.TtlMs,
        AcquiredAtMs = lease.AcquiredAtMs,
        ExpiresAtMs = lease.ExpiresAtMs,
    };

    /// <summary>Approximate (a retried decision counts again): a gauge for dashboards, not an accounting record.</summary>
    private static void LeasesChanged(int delta)
    {
        if (delta != 0)
        {
            CoordinatorDiagnostics.ActiveLeases.Add(delta);
        }
    }

    private static string NewLeaseId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease write for user grain {User} lost an ETag race (attempt {Attempt}); deciding again on fresh state: {Reason}")]
    private static partial void LogStaleWrite(ILogger logger, string user, int attempt, string reason);
}
