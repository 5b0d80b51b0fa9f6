using Orleans.Concurrency;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Coordination;

namespace Orleans.Coordinator.Grains.Coordination;

/// <summary>
/// A lock with fencing tokens. Reentrant so that waiting acquirers do not block releases: every decision is
/// made synchronously on the in-memory state and the writes of one activation are queued in order, so
/// interleaving happens only while a write or a wait is in flight. A grant is acknowledged only after its
/// write (ETag-checked) succeeded; a failed write is undone by reloading, and since the token it would have
/// used was never handed out, the token sequence stays strictly increasing.
/// </summary>
[Reentrant]
internal sealed class DistributedLockGrain(
    [PersistentState("lock", CoordinatorStorage.Name)] IPersistentState<DistributedLockState> state,
    CoordinatorClock clock) : Grain, IDistributedLockGrain
{
    private readonly LinkedList<Waiter> _waiters = new();
    private IGrainTimer? _expiryTimer;

    private bool IsFree(long now) => state.State.Owner is null || now >= state.State.ExpiresAtMs;

    public async Task<LockAcquireResult> AcquireAsync(string owner, long ttlMs, long waitMs)
    {
        ValidateOwner(owner);
        ValidateTtl(ttlMs);
        if (waitMs < 0 || waitMs > LockLimits.MaxWaitMs)
        {
            throw new CoordinatorValidationException("waitMs", $"waitMs must be between 0 and {LockLimits.MaxWaitMs}.");
        }

        if (IsFree(clock.NowMs) && _waiters.Count == 0)
        {
            return await GrantAsync(owner, ttlMs);
        }

        if (waitMs == 0)
        {
            return Denied();
        }

        if (_waiters.Count >= LockLimits.MaxWaiters)
        {
            throw new CoordinatorValidationException("waitMs", $"at most {LockLimits.MaxWaiters} callers may wait on one lock.");
        }

        var waiter = new Waiter(owner, ttlMs);
        var node = _waiters.AddLast(waiter);
        ArmExpiryTimer();
        var winner = await Task.WhenAny(waiter.Completion.Task, Task.Delay(TimeSpan.FromMilliseconds(waitMs)));
        if (winner == waiter.Completion.Task)
        {
            return await waiter.Completion.Task;
        }

        // Timed out: leave the queue unless the grant raced the timeout.
        if (waiter.Completion.TrySetCanceled())
        {
            _waiters.Remove(node);
            return Denied();
        }

        return await waiter.Completion.Task;
    }

    public async Task<LockUpdateResult> RenewAsync(string owner, long fencingToken, long ttlMs)
    {
        ValidateOwner(owner);
        ValidateTtl(ttlMs);
        var now = clock.NowMs;
        if (!Holds(owner, fencingToken, now))
        {
            return new LockUpdateResult(false, 0, state.State.Token > 0);
        }

        var expires = now + ttlMs;
        await WriteAsync(s => s.ExpiresAtMs = expires);
        ArmExpiryTimer();
        return new LockUpdateResult(true, expires, true);
    }

    public async Task<LockUpdateResult> ReleaseAsync(string owner, long fencingToken)
    {
        ValidateOwner(owner);
        if (!Holds(owner, fencingToken, clock.NowMs))
        {
            return new LockUpdateResult(false, 0, state.State.Token > 0);
        }

        await WriteAsync(s => (s.Owner, s.ExpiresAtMs) = (null, 0));
        await ServeWaitersAsync();
        return new LockUpdateResult(true, 0, true);
    }

    public Task<LockValidation> ValidateAsync(long fencingToken)
    {
        var s = state.State;
        var newest = fencingToken == s.Token && s.Token > 0;
        return Task.FromResult(new LockValidation(newest, newest && !IsFree(clock.NowMs), s.Token, _waiters.Count(w => !w.Completion.Task.IsCompleted)));
    }

    private bool Holds(string owner, long token, long now)
        => state.State.Owner == owner && state.State.Token == token && now < state.State.ExpiresAtMs;

    private LockAcquireResult Denied() => new(false, 0, state.State.ExpiresAtMs, state.State.Owner);

    private async Task<LockAcquireResult> GrantAsync(string owner, long ttlMs)
    {
        var expires = clock.NowMs + ttlMs;
        var token = state.State.Token + 1;
        await WriteAsync(s => (s.Token, s.Owner, s.ExpiresAtMs) = (token, owner, expires));
        ArmExpiryTimer();
        return new LockAcquireResult(true, token, expires, owner);
    }

    /// <summary>Applies a change and persists it; on failure the state is reloaded so nothing unacknowledged stays.</summary>
    private async Task WriteAsync(Action<DistributedLockState> change)
    {
        change(state.State);
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            await state.ReadStateAsync();
            throw;
        }
    }

    /// <summary>Hands a free lock to the first waiter still waiting, in arrival order.</summary>
    private async Task ServeWaitersAsync()
    {
        while (_waiters.First is { } first && IsFree(clock.NowMs))
        {
            _waiters.RemoveFirst();
            var waiter = first.Value;
            if (waiter.Completion.Task.IsCompleted)
            {
                continue; // it gave up
            }

            try
            {
                var grant = await GrantAsync(waiter.Owner, waiter.TtlMs);
                if (!waiter.Completion.TrySetResult(grant))
                {
                    // The waiter timed out while its grant was being written: give the lock back.
                    await WriteAsync(s => (s.Owner, s.ExpiresAtMs) = (null, 0));
                    continue;
                }
            }
            catch (Exception ex)
            {
                waiter.Completion.TrySetException(ex);
            }

            return;
        }
    }

    /// <summary>While anyone waits, wake up when the holder's grant lapses.</summary>
    private void ArmExpiryTimer()
    {
        _expiryTimer?.Dispose();
        _expiryTimer = null;
        if (_waiters.Count == 0 || state.State.Owner is null)
        {
            return;
        }

        var due = TimeSpan.FromMilliseconds(Math.Max(1, state.State.ExpiresAtMs - clock.NowMs));
        _expiryTimer = this.RegisterGrainTimer(async () =>
        {
            await ServeWaitersAsync();
            ArmExpiryTimer();
        }, new GrainTimerCreationOptions { DueTime = due, Period = Timeout.InfiniteTimeSpan, Interleave = true });
    }

    private static void ValidateOwner(string owner)
    {
        if (string.IsNullOrWhiteSpace(owner) || owner.Length > LockLimits.MaxOwnerLength)
        {
            throw new CoordinatorValidationException("owner", $"owner is required, at most {LockLimits.MaxOwnerLength} characters.");
        }
    }

    private static void ValidateTtl(long ttlMs)
    {
        if (ttlMs < LockLimits.MinTtlMs || ttlMs > LockLimits.MaxTtlMs)
        {
            throw new CoordinatorValidationException("ttlMs", $"ttlMs must be between {LockLimits.MinTtlMs} and {LockLimits.MaxTtlMs}.");
        }
    }

    private sealed class Waiter(string owner, long ttlMs)
    {
        public string Owner { get; } = owner;

        public long TtlMs { get; } = ttlMs;

        public TaskCompletionSource<LockAcquireResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
