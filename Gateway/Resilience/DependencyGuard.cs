using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Runtime;
using Orleans.Coordinator.Hosting;
using StackExchange.Redis;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Runs calls to one dependency under its timeout and circuit breaker. Failures that mean the dependency is
/// down become <see cref="DependencyDownException"/> and count against the breaker; any other answer
/// (including a validation error) counts as the dependency being up.
/// </summary>
public sealed class DependencyGuard(CircuitBreaker breaker, TimeSpan timeout, Func<Exception, bool> isOutage)
{
    /// <summary>The guarded dependency's breaker.</summary>
    public CircuitBreaker Breaker { get; } = breaker;

    /// <summary>The most one call may take.</summary>
    public TimeSpan Timeout { get; } = timeout;

    /// <summary>Calls the dependency, or throws <see cref="DependencyDownException"/> within <see cref="Timeout"/>.</summary>
    public Task<T> RunAsync<T>(Func<Task<T>> call) => RunAsync(call, Timeout);

    /// <summary>As <see cref="RunAsync{T}(Func{Task{T}})"/> with another timeout (recovery probes).</summary>
    public async Task<T> RunAsync<T>(Func<Task<T>> call, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (!Breaker.TryEnter())
        {
            throw new DependencyDownException(Breaker.Name, "circuit open");
        }

        try
        {
            var result = await call().WaitAsync(timeout);
            Breaker.Success();
            return result;
        }
        catch (TimeoutException ex)
        {
            Breaker.Failure();
            throw new DependencyDownException(Breaker.Name, "timeout", ex);
        }
        catch (Exception ex) when (isOutage(ex))
        {
            Breaker.Failure();
            throw new DependencyDownException(Breaker.Name, ex.GetType().Name, ex);
        }
        catch
        {
            Breaker.Success();
            throw;
        }
    }

    /// <summary>Grain-call failures that mean the cluster (not the request) is the problem.</summary>
    public static bool IsClusterOutage(Exception exception)
        => exception is OrleansException or TimeoutException or OperationCanceledException or ObjectDisposedException
           && !StorageFailures.Is(exception);

    /// <summary>Redis error replies that mean the server cannot serve us now (full, loading, a replica, busy, or refusing our credentials).</summary>
    private static readonly string[] OutageReplies = ["OOM", "LOADING", "READONLY", "MASTERDOWN", "BUSY", "NOAUTH", "WRONGPASS", "NOPERM"];

    /// <summary>Redis failures that mean Redis is down, full or not the primary (an out-of-memory error is an outage).</summary>
    public static bool IsRedisOutage(Exception exception) => exception switch
    {
        RedisConnectionException or RedisTimeoutException or TimeoutException => true,
        RedisServerException server => OutageReplies.Any(reply => server.Message.StartsWith(reply, StringComparison.Ordinal)),
        CoordinatorUnavailableException => true,
        _ => false,
    };
}
