using System.Threading.Channels;

namespace Orleans.Coordinator.Grains.Interfaces.Tenants;

/// <summary>
/// A client-side coalescer for rate-limit decisions: concurrent <see cref="CheckAsync"/> calls are gathered and
/// sent as one <see cref="IRateLimitBatchGrain.CheckManyAsync"/> call (up to <c>maxBatch</c> decisions), so a
/// caller with many decisions in flight pays one client-to-silo round trip for many. Each decision is still made
/// by its counter grain, so exactness is unchanged. Nothing waits for a batch to fill: a batch is sent as soon
/// as the previous one has been handed over, with whatever is pending. Create one per client and dispose it.
/// </summary>
public sealed class RateLimitCoalescer : IAsyncDisposable
{
    private readonly IGrainFactory _grains;
    private readonly int _maxBatch;
    private readonly Channel<(RateLimitCheck Check, TaskCompletionSource<RateLimitResult> Done)> _pending =
        Channel.CreateUnbounded<(RateLimitCheck, TaskCompletionSource<RateLimitResult>)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _pump;
    private long _batches;

    /// <summary>Starts the coalescer over <paramref name="grains"/>.</summary>
    public RateLimitCoalescer(IGrainFactory grains, int maxBatch = 256, int parallelBatches = 4)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelBatches, 1);
        (_grains, _maxBatch) = (grains, maxBatch);
        _pump = PumpAsync(parallelBatches);
    }

    /// <summary>Batches sent so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Checks and, when allowed, charges <paramref name="cost"/> against the counter <paramref name="counterKey"/>.</summary>
    public Task<RateLimitResult> CheckAsync(string counterKey, RateLimitPolicy policy, long cost)
    {
        var done = new TaskCompletionSource<RateLimitResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_pending.Writer.TryWrite((new RateLimitCheck(counterKey, policy, cost), done)))
        {
            done.SetException(new ObjectDisposedException(nameof(RateLimitCoalescer)));
        }

        return done.Task;
    }

    private async Task PumpAsync(int parallelBatches)
    {
        using var slots = new SemaphoreSlim(parallelBatches);
        var reader = _pending.Reader;
        while (await reader.WaitToReadAsync())
        {
            await slots.WaitAsync();
            var batch = new List<(RateLimitCheck Check, TaskCompletionSource<RateLimitResult> Done)>(Math.Min(_maxBatch, 64));
            while (batch.Count < _maxBatch && reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            Interlocked.Increment(ref _batches);
            _ = SendAsync(batch, slots);
        }

        // Let the batches under way finish before the semaphore goes.
        for (var i = 0; i < parallelBatches; i++)
        {
            await slots.WaitAsync();
        }
    }

    private async Task SendAsync(List<(RateLimitCheck Check, TaskCompletionSource<RateLimitResult> Done)> batch, SemaphoreSlim slots)
    {
        try
        {
            var results = await _grains.GetGrain<IRateLimitBatchGrain>(0).CheckManyAsync([.. batch.Select(b => b.Check)]);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Done.TrySetResult(results[i]);
            }
        }
        catch (Exception ex)
        {
            foreach (var (_, done) in batch)
            {
                done.TrySetException(ex);
            }
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>Stops taking checks and waits for the batches under way.</summary>
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        await _pump;
    }
}
