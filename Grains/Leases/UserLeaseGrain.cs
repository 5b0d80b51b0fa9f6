using Microsoft.Extensions.DependencyInjection;
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
    IOptions<LeaseOptions> options) : Grain, IUserLeaseGrain
{
    private const int MaxWriteAttempts = 3;

    private const int MaxCancelled = 256;
    private const long CancelledForMs = 600_000;

    private ConnectionLeaseBook? _book;
    private bool _mustReload;

    // True once Redis said this user holds no fallback lease, until this activation's state is reloaded: a fallback
    // grant changes the state's ETag (the fallback script fences the grain), so while the ETag this activation holds
    // is current none can have been granted, and a decision made on a stale zero fails its ETag-checked write, is
    // reloaded and counted again. Saves one Redis round trip per acquire in the common case.
    private bool _noFallbackLeases;

    // The instance whose lease index is known to hold this user (one reference, not a set: the grain's memory per user
    // is a target). The index drops a user only after calling ReleaseInstanceLeasesAsync, which forgets it here.
    private string? _trackedBy;
    private Dictionary<string, long>? _cancelled;
    private int _leaseDelta;

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
        string? givenId = null;
        if (request.LeaseId is not null && (!GrainKeys.TryLeaseId(request.LeaseId, out givenId, out _) || givenId.StartsWith(GrainKeys.FallbackIdPrefix, StringComparison.Ordinal)))
        {
            throw new CoordinatorValidationException("leaseId", "leaseId must be a lease id (letters, digits and . _ - @ + = : ~ !, at most 64) that does not start with 'fb-'.");
        }

        // Before the first lease from an instance, record this user in that instance's lease index (durably),
        // so the instance's death or goodbye finds and releases it.
        var user = this.GetPrimaryKeyString();
        if (_trackedBy != instanceId && !(await GetBookAsync()).HasLiveLeaseFrom(instanceId, clock.NowMs))
        {
            await GrainFactory.GetGrain<IInstanceLeaseIndexGrain>(InstanceKeys.LeaseIndex(instanceId, user)).TrackAsync(user);
            _trackedBy = instanceId;
        }

        return await UpdateAsync(
            // Leases a gateway granted from its Redis fallback count too. Counted again on every attempt: a fallback
            // grant changes this state's ETag (the fallback script fences the grain), so a decision that missed one
            // fails its write and is made again with the fresh count.
            CountFallbackLeasesAsync,
            (book, now, heldElsewhere) =>
            {
                var pruned = book.PruneExpired(now);
                if (givenId is not null && book.Find(givenId) is { } existing)
                {
                    // A retry of an acquire that was granted: the same lease.
                    return (new LeaseAcquireResult(true, existing.LeaseId, book.CountActive(now) + heldElsewhere, Limit, existing.ExpiresAtMs), pruned > 0);
                }

                if (givenId is not null && _cancelled?.ContainsKey(givenId) == true)
                {
                    // Released before this acquire arrived: its caller gave up on it, so nobody would hold the slot.
                    return (new LeaseAcquireResult(false, null, book.CountActive(now) + heldElsewhere, Limit, 0), pruned > 0);
                }

                var decision = book.TryAcquire(now, givenId ?? NewLeaseId(), instanceId, ttl, Limit, heldElsewhere);
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
            if (!released)
            {
                Cancel(leaseId, now);
            }

            return (released, released || pruned > 0);
        });

    public Task<int> ReleaseInstanceLeasesAsync(string instanceId)
        => UpdateAsync((book, now) =>
        {
            if (_trackedBy == instanceId)
            {
                _trackedBy = null;
            }

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

    /// <summary>
    /// The user's live leases: this grain's and the fallback's (a fallback lease lives until it is released or expires,
    /// whatever the mode by then), so the snapshot, the listing and the limit decisions count the same leases.
    /// </summary>
    public async Task<LeaseSnapshot> GetSnapshotAsync()
    {
        var book = await GetBookAsync();
        var now = clock.NowMs;
        var elsewhere = await fallbackLeases.ListLiveAsync(this.GetPrimaryKeyString(), now);
        var live = book.Leases
            .Where(l => !l.IsExpired(now))
            .Select(l => new LeaseInfo(l.LeaseId, l.InstanceId, l.AcquiredAtMs, l.ExpiresAtMs))
            .Concat(elsewhere)
            .OrderBy(l => l.AcquiredAtMs)
            .ToList();
        return new LeaseSnapshot(live.Count, Limit, live);
    }

    /// <summary>
    /// Runs a decision against the book and, when it changed something, persists before answering.
    /// Nothing is acknowledged that is not durable.
    /// </summary>
    private Task<T> UpdateAsync<T>(Func<ConnectionLeaseBook, long, (T Result, bool Changed)> decide)
        => UpdateAsync(static () => Task.FromResult(0), (book, now, _) => decide(book, now));

    /// <summary>
    /// As <see cref="UpdateAsync{T}(Func{ConnectionLeaseBook, long, ValueTuple{T, bool}})"/>, reading
    /// <paramref name="before"/> after the state on each attempt (a retry after an ETag conflict reads it again).
    /// </summary>
    private async Task<T> UpdateAsync<T>(Func<Task<int>> before, Func<ConnectionLeaseBook, long, int, (T Result, bool Changed)> decide)
    {
        for (var attempt = 1; ; attempt++)
        {
            var book = await GetBookAsync();
            var read = await before();
            _leaseDelta = 0;
            var (result, changed) = decide(book, clock.NowMs, read);
            if (!changed)
            {
                return result;
            }

            state.State.Leases = [.. book.Leases.Select(ToEntry)];
            try
            {
                await state.WriteStateAsync();
                state.State.Leases = null; // the book is the in-memory copy; the list is filled for each write only
                if (_leaseDelta != 0)
                {
                    CoordinatorDiagnostics.ActiveLeases.Add(_leaseDelta); // counted once, for the decision that was written
                }

                return result;
            }
            catch (InconsistentStateException ex) when (attempt < MaxWriteAttempts)
            {
                // Another activation of this user wrote first: decide again on what it wrote.
                // The logger is looked up when needed (rare) rather than kept: one reference less per active user.
                LogStaleWrite(ServiceProvider.GetRequiredService<ILogger<UserLeaseGrain>>(), this.GetPrimaryKeyString(), attempt, ex.Message);
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

    private async Task<int> CountFallbackLeasesAsync()
    {
        if (_noFallbackLeases)
        {
            return 0;
        }

        var count = await fallbackLeases.CountLiveAsync(this.GetPrimaryKeyString(), clock.NowMs);
        _noFallbackLeases = count == 0;
        return count;
    }

    private async ValueTask<ConnectionLeaseBook> GetBookAsync()
    {
        if (_mustReload)
        {
            _noFallbackLeases = false;
            _trackedBy = null; // another activation may have been released by the index meanwhile
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

    /// <summary>
    /// Remembers a lease id released before it was granted (a gateway that gave up on an acquire releases its id), so
    /// the acquire, if it arrives later, is refused. In memory, bounded: the acquire it guards against is already
    /// queued to this activation.
    /// </summary>
    private void Cancel(string leaseId, long now)
    {
        _cancelled ??= new Dictionary<string, long>(StringComparer.Ordinal);
        if (_cancelled.Count >= MaxCancelled)
        {
            // Forget the expired ones; if none has expired, the older half.
            var cutoff = _cancelled.Values.Any(at => now - at > CancelledForMs) ? now - CancelledForMs : _cancelled.Values.Order().ElementAt(MaxCancelled / 2);
            foreach (var old in _cancelled.Where(c => c.Value <= cutoff).Select(c => c.Key).ToList())
            {
                _cancelled.Remove(old);
            }
        }

        _cancelled[leaseId] = now;
    }

    private static LeaseEntry ToEntry(ConnectionLease lease) => new()
    {
        LeaseId = lease.LeaseId,
        InstanceId = lease.InstanceId,
        TtlMs = lease.TtlMs,
        AcquiredAtMs = lease.AcquiredAtMs,
        ExpiresAtMs = lease.ExpiresAtMs,
    };

    /// <summary>Notes the change in live leases of the decision being made; the gauge moves once it is written.</summary>
    private void LeasesChanged(int delta) => _leaseDelta += delta;

    private static string NewLeaseId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease write for user grain {User} lost an ETag race (attempt {Attempt}); deciding again on fresh state: {Reason}")]
    private static partial void LogStaleWrite(ILogger logger, string user, int attempt, string reason);
}
