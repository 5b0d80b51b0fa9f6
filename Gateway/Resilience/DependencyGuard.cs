using System.Diagnostics;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Runtime;
using Orleans.Coordinator.Hosting;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Runs calls to one dependency under its timeout and circuit breaker (a Polly pipeline, <see cref="CircuitBreaker"/>).
/// Failures that mean the dependency is down become <see cref="DependencyDownException"/> and count against the
/// breaker; any other answer (including a validation error) counts as the dependency being up. The timeout is this
/// class's own rather than Polly's timeout strategy, which cancels at one fixed bound: here a call is given up on
/// evidence (see remarks), and a call whose answer is queued behind this process's own work is looked at once more.
/// </summary>
/// <remarks>
/// With <paramref name="reachability"/> (the grain cluster), a call still running at the timeout is only given up when
/// the dependency answered nothing since the call began: no other call succeeded, and the ping (sent when the last
/// answer is older than <see cref="ClusterReachability.StaleAfter"/>, or half-way through a call that heard nothing)
/// did not come back. While that ping is still on its way the call waits for its verdict (a ping gives up after half
/// the slow-call bound; after a failed ping, calls stop waiting for pings for 2 s); when there is no evidence either way
/// (the cluster answered just before the call began, or this process is behind its own work) it looks once more after
/// one more timeout. An unreachable cluster so costs the first callers up to half the slow-call bound (the first
/// ping's verdict), and then the timeout, until the breaker opens and answers at once. A call to a cluster that
/// answers is slow, not cut off: it waits up to <paramref name="slowCallTimeout"/> in all, and counts against the
/// breaker only past that. When a call outlives that bound although the cluster answers (part of the cluster does not:
/// a frozen silo), calls get no extra time for 2 s, so each call to the silo that does not answer costs the timeout.
/// </remarks>
public sealed class DependencyGuard(
    CircuitBreaker breaker, TimeSpan timeout, Func<Exception, bool> isOutage, ClusterReachability? reachability = null, TimeSpan? slowCallTimeout = null)
{
    private readonly TimeSpan _slowCallTimeout = slowCallTimeout is { } slow && slow > timeout ? slow : timeout;

    /// <summary>The guarded dependency's breaker.</summary>
    public CircuitBreaker Breaker { get; } = breaker;

    /// <summary>The most one call waits while the dependency does not answer.</summary>
    public TimeSpan Timeout { get; } = timeout;

    /// <summary>Calls the dependency, or throws <see cref="DependencyDownException"/> within <see cref="Timeout"/> (see remarks).</summary>
    public Task<T> RunAsync<T>(Func<Task<T>> call) => RunAsync(call, Timeout);

    /// <summary>As <see cref="RunAsync{T}(Func{Task{T}})"/> with another timeout (recovery probes).</summary>
    public async Task<T> RunAsync<T>(Func<Task<T>> call, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            return await Breaker.Pipeline.ExecuteAsync(
                static (state, _) => new ValueTask<T>(state.Guard.CallAsync(state.Call, state.Timeout)), (Guard: this, Call: call, Timeout: timeout));
        }
        catch (BrokenCircuitException ex)
        {
            throw new DependencyDownException(Breaker.Name, "circuit open", ex);
        }
    }

    /// <summary>One call inside the breaker: outages become <see cref="DependencyDownException"/>, which the breaker counts.</summary>
    private async Task<T> CallAsync<T>(Func<Task<T>> call, TimeSpan timeout)
    {
        try
        {
            var started = Stopwatch.GetTimestamp();
            reachability?.CallStarting(started);
            var task = call();
            var result = reachability is null || timeout >= _slowCallTimeout ? await WaitAsync(task, timeout, started) : await WaitWhileAnsweringAsync(task, timeout, started);
            reachability?.Answered(Stopwatch.GetTimestamp());
            return result;
        }
        catch (TimeoutException ex)
        {
            throw new DependencyDownException(Breaker.Name, "timeout", ex);
        }
        catch (Exception ex) when (isOutage(ex))
        {
            throw new DependencyDownException(Breaker.Name, ex.GetType().Name, ex);
        }
    }

    /// <summary>
    /// Waits for the call up to the timeout; when this process is behind (<see cref="ProcessBehind"/>: the answer may be
    /// queued behind other work), once more: a busy gateway is no evidence against the dependency.
    /// </summary>
    private static async Task<T> WaitAsync<T>(Task<T> task, TimeSpan timeout, long started)
    {
        if (await CompletesWithinAsync(task, timeout) || (ProcessBehind(started, timeout) && await CompletesWithinAsync(task, timeout)))
        {
            return await task;
        }

        throw new TimeoutException();
    }

    private async Task<T> WaitWhileAnsweringAsync<T>(Task<T> task, TimeSpan timeout, long started)
    {
        var half = timeout / 2;
        if (await CompletesWithinAsync(task, half))
        {
            return await task;
        }

        if (!reachability!.AnsweredSince(started))
        {
            // Slow so far, and nothing has answered since this call began: ask the cluster directly.
            _ = reachability.Ping();
        }

        if (await CompletesWithinAsync(task, timeout - half))
        {
            return await task;
        }

        if (!reachability.Patient(Stopwatch.GetTimestamp()))
        {
            // A call outlived the slow-call bound moments ago although the cluster answered: part of it does not answer.
            // No extra time now, except when this process is behind.
            if (ProcessBehind(started, timeout) && await CompletesWithinAsync(task, timeout))
            {
                return await task;
            }

            throw new TimeoutException();
        }

        if (!reachability.AnsweredSince(started))
        {
            if (reachability.PingWorthWaitingFor(Stopwatch.GetTimestamp()) is { } ping)
            {
                // Nothing answered yet, but the ping is on its way (and pings have not been failing): wait for whichever
                // comes first, the call or the ping's verdict (it gives up after half the slow-call bound).
                await Task.WhenAny(task, ping);
            }
            else if (MayBeAHiccup(started, timeout))
            {
                // No evidence either way: the cluster answered just before this call began, or this process is behind
                // its own work (a busy gateway is no evidence against the cluster). Look once more after one more timeout.
                await CompletesWithinAsync(task, timeout);
            }

            if (task.IsCompleted)
            {
                return await task;
            }

            if (!reachability.AnsweredSince(started))
            {
                throw new TimeoutException();
            }
        }

        // The cluster answers: a slow call (a cold activation), not an outage. Wait up to the slow-call bound.
        var left = _slowCallTimeout - Stopwatch.GetElapsedTime(started);
        try
        {
            return await task.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        }
        catch (TimeoutException)
        {
            reachability.Stuck(Stopwatch.GetTimestamp());
            throw;
        }
    }

    /// <summary>
    /// True when <paramref name="task"/> completes within <paramref name="timeout"/>. At the timeout it first lets the
    /// work already queued in this process run (one yield): an answer that arrived in time but whose completion was
    /// still queued behind other requests is not a timeout.
    /// </summary>
    private static async Task<bool> CompletesWithinAsync(Task task, TimeSpan timeout)
    {
        if (task.IsCompleted)
        {
            return true;
        }

        try
        {
            await task.WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            await Task.Yield();
            return task.IsCompleted;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return true; // completed with its own failure, which the caller observes
        }
    }

    private bool MayBeAHiccup(long started, TimeSpan timeout)
        => ProcessBehind(started, timeout)
           || reachability!.AnsweredSince(started - (long)(ClusterReachability.StaleAfter.TotalSeconds * Stopwatch.Frequency));

    /// <summary>
    /// True when this process, not the dependency, may be why no answer was seen: the timer fired late, or more work is
    /// queued than the cores can run at once (the answer's own completion is then likely among it; measured: fallback
    /// scripts timed out at 50 ms with 20-26 work items queued, and completed 0-1 ms later).
    /// </summary>
    private static bool ProcessBehind(long started, TimeSpan timeout)
        => Stopwatch.GetElapsedTime(started) > timeout * 1.5 || ThreadPool.PendingWorkItemCount > Environment.ProcessorCount;

    /// <summary>
    /// Grain-call failures that mean the cluster (not the request) is the problem. A storage ETag conflict
    /// (<see cref="Orleans.Storage.InconsistentStateException"/>, e.g. a grain that kept losing its write to fallback
    /// grants for one user) is contention, not an outage.
    /// </summary>
    public static bool IsClusterOutage(Exception exception)
        => exception is OrleansException or TimeoutException or OperationCanceledException or ObjectDisposedException
           && exception is not Orleans.Storage.InconsistentStateException
           && !StorageFailures.Is(exception);

    /// <summary>
    /// Redis error replies that mean the server cannot serve us now (full, loading, a replica, busy, refusing our
    /// credentials, or a Redis Cluster without a master for the slot or in the middle of moving it).
    /// </summary>
    private static readonly string[] OutageReplies = ["OOM", "LOADING", "READONLY", "MASTERDOWN", "BUSY", "NOAUTH", "WRONGPASS", "NOPERM", "CLUSTERDOWN", "TRYAGAIN"];

    /// <summary>Redis failures that mean Redis is down, full or not the primary (an out-of-memory error is an outage).</summary>
    public static bool IsRedisOutage(Exception exception) => exception switch
    {
        RedisConnectionException or RedisTimeoutException or TimeoutException => true,
        RedisServerException server => OutageReplies.Any(reply => server.Message.StartsWith(reply, StringComparison.Ordinal)),
        CoordinatorUnavailableException => true,
        _ => false,
    };
}
