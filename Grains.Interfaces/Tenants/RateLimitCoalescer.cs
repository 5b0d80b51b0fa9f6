namespace Orleans.Coordinator.Grains.Interfaces.Tenants;

/// <summary>
/// The client side of rate-limit decisions: each check goes to the shard that owns its counter
/// (<see cref="IRateLimitShardGrain"/>), and checks for a shard that arrive while a call to it is under way wait
/// for it and then go together, as one call of up to <c>maxBatch</c> decisions. A caller with many decisions in
/// flight so pays one grain call for many; a lone caller pays one call, with no added wait (nothing waits for a
/// batch to fill). Each decision is made by the counter's single owner, so exactness is that of a direct call.
/// Create one per client (the gateway holds one) and dispose it.
/// </summary>
public sealed class RateLimitCoalescer : IAsyncDisposable
{
    private readonly IGrainFactory _grains;
    private readonly int _maxBatch;
    private readonly Lane[] _lanes;
    private volatile bool _disposed;
    private RateLimitPolicy? _lastValidPolicy;
    private long _batches;
    private long _decisions;

    /// <summary>Starts a coalescer over <paramref name="grains"/>.</summary>
    public RateLimitCoalescer(IGrainFactory grains, int maxBatch = 512)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        (_grains, _maxBatch) = (grains, maxBatch);
        _lanes = [.. Enumerable.Range(0, GrainKeys.RateLimitShardCount).Select(shard => new Lane(shard))];
    }

    /// <summary>Grain calls made so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Decisions sent so far.</summary>
    public long Decisions => Interlocked.Read(ref _decisions);

    /// <summary>
    /// Checks and, when allowed, charges <paramref name="cost"/> against the counter <paramref name="counterKey"/>.
    /// A bad policy (<see cref="RateLimitLimits.Validate"/>) or a cost outside 0 to
    /// <see cref="RateLimitLimits.MaxSummedCost"/> (the costs of one counter in a batch, charged together) fails this
    /// call only with <see cref="CoordinatorValidationException"/>, before anything is sent.
    /// </summary>
    public Task<RateLimitResult> CheckAsync(string counterKey, RateLimitPolicy policy, long cost)
    {
        ArgumentNullException.ThrowIfNull(counterKey);
        if (!ReferenceEquals(policy, _lastValidPolicy))
        {
            RateLimitLimits.Validate(policy);
            _lastValidPolicy = policy; // policies are immutable records: a caller usually passes the same one
        }

        RateLimitLimits.ValidateCost(cost, RateLimitLimits.MaxSummedCost);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var pending = new Pending(new RateLimitCheck(counterKey, policy, cost));
        var lane = _lanes[GrainKeys.RateLimitShard(counterKey)];
        List<Pending>? batch = null;
        lock (lane.Gate)
        {
            lane.Queue.Add(pending);
            if (!lane.Busy)
            {
                lane.Busy = true;
                batch = lane.Take(_maxBatch);
            }
        }

        if (batch is not null)
        {
            _ = SendAsync(lane, batch);
        }

        return pending.Done.Task;
    }

    /// <summary>Takes back charges (one call per shard concerned).</summary>
    public Task RefundAsync(IEnumerable<RateLimitRefund> refunds)
    {
        ArgumentNullException.ThrowIfNull(refunds);
        return Task.WhenAll(refunds
            .GroupBy(r => GrainKeys.RateLimitShard(r.CounterKey))
            .Select(g => Shard(_lanes[g.Key]).RefundManyAsync([.. g])));
    }

    private async Task SendAsync(Lane lane, List<Pending> batch)
    {
        var shard = Shard(lane);
        while (true)
        {
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _decisions, batch.Count);
            try
            {
                var checks = new RateLimitCheck[batch.Count];
                for (var i = 0; i < checks.Length; i++)
                {
                    checks[i] = batch[i].Check;
                }

                var results = await shard.CheckManyAsync(checks);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done.TrySetResult(results[i]);
                }
            }
            catch (Exception ex)
            {
                foreach (var item in batch)
                {
                    item.Done.TrySetException(ex);
                }
            }

            lock (lane.Gate)
            {
                if (lane.Queue.Count == 0)
                {
                    lane.Busy = false;
                    lane.Idle?.TrySetResult();
                    return;
                }

                batch = lane.Take(_maxBatch);
            }
        }
    }

    /// <summary>Stops taking checks and waits for the calls under way.</summary>
    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        var busy = new List<Task>();
        foreach (var lane in _lanes)
        {
            lock (lane.Gate)
            {
                if (lane.Busy)
                {
                    lane.Idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    busy.Add(lane.Idle.Task);
                }
            }
        }

        await Task.WhenAll(busy);
    }

    private sealed class Pending(RateLimitCheck check)
    {
        public RateLimitCheck Check { get; } = check;

        // Completed on the thread that received the batch (no thread-pool hop per decision: +20% measured); callers
        // must not block in their continuations, which no async caller does.
        public TaskCompletionSource<RateLimitResult> Done { get; } = new();
    }

    /// <summary>
    /// The shard's reference, made once (on first use: a cluster client knows the grain types only once connected).
    /// <c>GetGrain</c> resolves the interface type through reflection on every call: measured at 10% of a gateway's
    /// CPU when made per batch.
    /// </summary>
    private IRateLimitShardGrain Shard(Lane lane) => lane.Grain ??= _grains.GetGrain<IRateLimitShardGrain>(lane.Shard);

    /// <summary>One shard's queue; <see cref="Busy"/> while a call to it is under way.</summary>
    private sealed class Lane(int shard)
    {
        public int Shard { get; } = shard;

        public IRateLimitShardGrain? Grain { get; set; }

        public Lock Gate { get; } = new();

        public List<Pending> Queue { get; } = [];

        public bool Busy { get; set; }

        public TaskCompletionSource? Idle { get; set; }

        public List<Pending> Take(int max)
        {
            if (Queue.Count <= max)
            {
                var all = new List<Pending>(Queue);
                Queue.Clear();
                return all;
            }

            var some = Queue.GetRange(0, max);
            Queue.RemoveRange(0, max);
            return some;
        }
    }
}
