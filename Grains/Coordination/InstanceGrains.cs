using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces.Coordination;
using Orleans.Coordinator.Grains.Interfaces.Leases;

namespace Orleans.Coordinator.Grains.Coordination;

/// <summary>
/// One instance's heartbeats, in memory (soft state). A one-shot timer, re-armed from the last beat, declares
/// the instance dead after <see cref="InstanceOptions.DeadAfter"/> of silence; the death is recorded in the
/// registry and every lease the instance held is released through its lease index, retried until it succeeds.
/// </summary>
internal sealed partial class InstanceGrain(CoordinatorClock clock, IOptions<InstanceOptions> options, ILogger<InstanceGrain> logger)
    : Grain, IInstanceGrain
{
    private InstanceHeartbeat? _last;
    private string? _role;
    private long _lastSeenMs;
    private long _registeredAtMs = long.MinValue;
    private long? _deadAtMs;
    private bool _releasePending;
    private bool _diedEventPending;
    private IGrainTimer? _watch;

    private string Id => this.GetPrimaryKeyString();

    private IInstanceRegistryGrain Registry => GrainFactory.GetGrain<IInstanceRegistryGrain>(InstanceKeys.RegistryShard(Id));

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A fresh activation (first beat, or after a silo loss) gives the instance a full grace period.
        _lastSeenMs = clock.NowMs;
        return Task.CompletedTask;
    }

    public async Task<HeartbeatAdvice> HeartbeatAsync(InstanceHeartbeat heartbeat)
    {
        ArgumentNullException.ThrowIfNull(heartbeat);
        var now = clock.NowMs;
        var mustRegister = heartbeat.Role != _role || _deadAtMs is not null;
        (_last, _role, _lastSeenMs, _deadAtMs) = (heartbeat, heartbeat.Role, now, null);
        var o = options.Value;
        if (mustRegister || now - _registeredAtMs >= o.RegistryRefresh.TotalMilliseconds)
        {
            await Registry.RegisterAsync(Id, heartbeat.Role);
            _registeredAtMs = now;
        }

        Watch();
        return new HeartbeatAdvice((long)o.HeartbeatInterval.TotalMilliseconds, (long)o.DeadAfter.TotalMilliseconds);
    }

    public Task<InstanceSnapshot?> GetAsync()
        => Task.FromResult(_role is null
            ? null
            : new InstanceSnapshot(Id, _role, _last?.Address, _last?.Version, _last?.Metadata ?? new Dictionary<string, string>(), _lastSeenMs, _deadAtMs is null, _deadAtMs));

    public async Task<int> GoodbyeAsync()
    {
        _watch?.Dispose();
        _watch = null;
        var users = await ReleaseLeasesAsync();
        await Registry.ForgetAsync(Id);
        // Forgotten, not deactivated: a goodbye repeated at once (a retry, two callers) must find this activation, not
        // one being torn down (Orleans rejects a message forwarded twice to deactivating activations, which answered 503).
        // The empty activation goes with idle collection.
        (_role, _last, _deadAtMs, _releasePending) = (null, null, null, false);
        return users;
    }

    public Task EnsureWatchedAsync(string role)
    {
        _role ??= role;
        if (_deadAtMs is null)
        {
            Watch();
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// <c>instance.died</c> on the feed of the tenant named by the heartbeat's <c>tenant</c> metadata (webhooks and
    /// notifications); nothing without one.
    /// </summary>
    private Task PublishDiedAsync()
    {
        if (_last?.Metadata is not { } metadata || !metadata.TryGetValue("tenant", out var tenant) || !Interfaces.GrainKeys.TryTenant(tenant, out var key, out _))
        {
            return Task.CompletedTask;
        }

        var data = System.Text.Json.JsonSerializer.Serialize(new
        {
            instanceId = Id,
            role = _role,
            address = _last?.Address,
            lastSeenMs = _lastSeenMs,
            deadAtMs = _deadAtMs,
        });
        return GrainFactory.GetGrain<Interfaces.Events.ITenantEventsGrain>(key).PublishAsync("instance.died", data);
    }

    private void Watch()
    {
        if (_watch is not null)
        {
            return;
        }

        var due = TimeSpan.FromMilliseconds(Math.Max(1, _lastSeenMs + options.Value.DeadAfter.TotalMilliseconds - clock.NowMs));
        _watch = this.RegisterGrainTimer(CheckAsync, new GrainTimerCreationOptions { DueTime = due, Period = Timeout.InfiniteTimeSpan, Interleave = false });
    }

    private async Task CheckAsync(CancellationToken cancellationToken)
    {
        _watch?.Dispose();
        _watch = null;
        var now = clock.NowMs;
        if (_deadAtMs is null && now < _lastSeenMs + options.Value.DeadAfter.TotalMilliseconds)
        {
            Watch(); // beats came in since the timer was armed
            return;
        }

        if (_deadAtMs is null)
        {
            _deadAtMs = now;
            _releasePending = true;
            _diedEventPending = true;
            LogDead(logger, Id, now - _lastSeenMs);
        }

        try
        {
            if (_role is not null)
            {
                await Registry.MarkDeadAsync(Id, _deadAtMs.Value);
            }

            if (_releasePending)
            {
                await ReleaseLeasesAsync();
                _releasePending = false;
            }

            if (_diedEventPending)
            {
                await PublishDiedAsync();
                _diedEventPending = false;
            }
        }
        catch (Exception ex)
        {
            // Try again shortly: the leases must be released, and releasing twice is harmless.
            LogReleaseFailed(logger, Id, ex.Message);
            _watch = this.RegisterGrainTimer(CheckAsync, new GrainTimerCreationOptions
            {
                DueTime = options.Value.HeartbeatInterval, Period = Timeout.InfiniteTimeSpan, Interleave = false,
            });
        }
    }

    private async Task<int> ReleaseLeasesAsync()
    {
        var counts = await Task.WhenAll(InstanceKeys.LeaseIndexes(Id).Select(key => GrainFactory.GetGrain<IInstanceLeaseIndexGrain>(key).ReleaseAllAsync()));
        return counts.Sum();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Instance {InstanceId} missed its heartbeats for {SilentMs} ms: declared dead, releasing its leases.")]
    private static partial void LogDead(ILogger logger, string instanceId, long silentMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Releasing the leases of dead instance {InstanceId} failed; retrying: {Reason}")]
    private static partial void LogReleaseFailed(ILogger logger, string instanceId, string reason);
}

/// <summary>A registry shard's persisted members.</summary>
[GenerateSerializer, Alias("coordinator.InstanceRegistryState")]
public sealed class InstanceRegistryState
{
    /// <summary>Members by instance id.</summary>
    [Id(0)]
    public Dictionary<string, InstanceRegistryEntry> Members { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One registry member.</summary>
[GenerateSerializer, Alias("coordinator.InstanceRegistryEntry")]
public sealed class InstanceRegistryEntry
{
    /// <summary>Role.</summary>
    [Id(0)]
    public string Role { get; set; } = string.Empty;

    /// <summary>When it was declared dead (Unix ms), or null while alive.</summary>
    [Id(1)]
    public long? DeadAtMs { get; set; }
}

/// <summary>
/// A registry shard: who exists, by role, alive or dead. Persisted, written only on registration and death.
/// A timer forgets the long dead and asks the live ones' grains to keep watching (after a silo loss their
/// watch timers are gone; re-activating them restarts the death clock).
/// </summary>
internal sealed class InstanceRegistryGrain(
    [PersistentState("members", CoordinatorStorage.Name)] IPersistentState<InstanceRegistryState> state,
    CoordinatorClock clock,
    IOptions<InstanceOptions> options) : Grain, IInstanceRegistryGrain
{
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(SweepAsync, new GrainTimerCreationOptions
        {
            DueTime = options.Value.DeadAfter, Period = options.Value.DeadAfter, Interleave = false,
        });
        return Task.CompletedTask;
    }

    public Task RegisterAsync(string instanceId, string role)
        => state.UpdateAsync(s =>
        {
            var changed = !s.Members.TryGetValue(instanceId, out var entry) || entry.Role != role || entry.DeadAtMs is not null;
            s.Members[instanceId] = new InstanceRegistryEntry { Role = role };
            return (true, changed);
        });

    public Task MarkDeadAsync(string instanceId, long deadAtMs)
        => state.UpdateAsync(s =>
        {
            if (!s.Members.TryGetValue(instanceId, out var entry) || entry.DeadAtMs is not null)
            {
                return (false, false);
            }

            entry.DeadAtMs = deadAtMs;
            return (true, true);
        });

    public Task ForgetAsync(string instanceId)
        => state.UpdateAsync(s =>
        {
            var removed = s.Members.Remove(instanceId);
            return (removed, removed);
        });

    public Task<IReadOnlyList<InstanceRegistration>> ListAsync(string? role)
        => Task.FromResult<IReadOnlyList<InstanceRegistration>>([.. state.State.Members
            .Where(m => role is null || m.Value.Role == role)
            .Select(m => new InstanceRegistration(m.Key, m.Value.Role, m.Value.DeadAtMs is null, m.Value.DeadAtMs))]);

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        var forgetBefore = clock.NowMs - (long)options.Value.ForgetAfter.TotalMilliseconds;
        await state.UpdateAsync(s =>
        {
            var gone = s.Members.Where(m => m.Value.DeadAtMs < forgetBefore).Select(m => m.Key).ToList();
            foreach (var id in gone)
            {
                s.Members.Remove(id);
            }

            return (true, gone.Count > 0);
        });

        foreach (var (id, entry) in state.State.Members.Where(m => m.Value.DeadAtMs is null))
        {
            GrainFactory.GetGrain<IInstanceGrain>(id).EnsureWatchedAsync(entry.Role).Ignore();
        }
    }
}

/// <summary>A lease index bucket's persisted users.</summary>
[GenerateSerializer, Alias("coordinator.InstanceLeaseIndexState")]
public sealed class InstanceLeaseIndexState
{
    /// <summary>Users that took a lease from the instance.</summary>
    [Id(0)]
    public HashSet<string> Users { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Which users hold leases from one instance (one of 16 buckets). Tracking interleaves, so a user grain that is
/// tracking never waits behind a release that is calling that same user grain.
/// </summary>
internal sealed class InstanceLeaseIndexGrain(
    [PersistentState("users", CoordinatorStorage.Name)] IPersistentState<InstanceLeaseIndexState> state) : Grain, IInstanceLeaseIndexGrain
{
    private string InstanceId
    {
        get
        {
            var key = this.GetPrimaryKeyString();
            return key[..key.LastIndexOf('/')];
        }
    }

    // Users tracked while ReleaseAllAsync is releasing (tracking interleaves with it): their new lease came after the
    // release, so they stay in the index when the released ones are removed.
    private HashSet<string>? _trackedDuringRelease;

    public Task TrackAsync(string user)
    {
        _trackedDuringRelease?.Add(user);
        return state.UpdateAsync(s => (true, s.Users.Add(user)));
    }

    public async Task<int> ReleaseAllAsync()
    {
        var users = state.State.Users.ToList();
        var retracked = _trackedDuringRelease = new HashSet<string>(StringComparer.Ordinal);
        var instanceId = InstanceId;
        try
        {
            foreach (var chunk in users.Chunk(64))
            {
                await Task.WhenAll(chunk.Select(u => GrainFactory.GetGrain<IUserLeaseGrain>(u).ReleaseInstanceLeasesAsync(instanceId)));
            }
        }
        finally
        {
            _trackedDuringRelease = null;
        }

        var released = users.Count;
        users.RemoveAll(retracked.Contains);
        await state.UpdateAsync(s =>
        {
            s.Users.ExceptWith(users);
            return (true, users.Count > 0);
        });
        return released;
    }
}
