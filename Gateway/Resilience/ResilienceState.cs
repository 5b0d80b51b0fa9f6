using Orleans.Coordinator.Hosting;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;

namespace Orleans.Coordinator.Resilience;

/// <summary>How an answer was produced.</summary>
public enum ServedMode
{
    /// <summary>By the grains.</summary>
    Normal,

    /// <summary>By the Redis fallback counters, or a mapping read around the grains (still enforced).</summary>
    Fallback,

    /// <summary>Without enforcement (fail open) or from a default.</summary>
    Degraded,
}

/// <summary>
/// The gateway's two dependency guards (<c>cluster</c>, <c>redis</c>), with their breakers, and the mode the
/// gateway is in. In embedded mode there is nothing remote to guard: <see cref="Enabled"/> is false and
/// callers use the grains directly.
/// </summary>
public sealed partial class ResilienceState : Hosting.IResilienceReport, IDisposable
{
    private static readonly Counter<long> ModeAnswers = CoordinatorDiagnostics.Meter.CreateCounter<long>(
        "coordinator.resilience.answers", "{answer}", "Answers served in fallback or degraded mode, by feature and mode.");

    private static readonly Counter<long> BreakerTransitions = CoordinatorDiagnostics.Meter.CreateCounter<long>(
        "coordinator.breaker.transitions", "{transition}", "Circuit breaker state changes, by dependency and new state.");

    /// <summary>The enabled states of this process (one per gateway), for <c>coordinator.breaker.state</c>.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ResilienceState, byte> Live = new();

    static ResilienceState()
    {
        CoordinatorDiagnostics.Meter.CreateObservableGauge("coordinator.breaker.state", () => Live.Keys.SelectMany(s => new[]
            {
                new Measurement<int>((int)s.Cluster.Breaker.State, new KeyValuePair<string, object?>("dependency", "cluster")),
                new Measurement<int>((int)s.Redis.Breaker.State, new KeyValuePair<string, object?>("dependency", "redis")),
            }),
            "{state}", "Each circuit breaker's state by dependency: 0 closed, 1 half-open, 2 open.");
    }

    private readonly ILogger<ResilienceState> _logger;

    /// <summary>
    /// Builds both guards from the options. With <paramref name="reachability"/>, a slow cluster call is given up
    /// only when the cluster does not answer a ping (see <see cref="DependencyGuard"/>).
    /// </summary>
    public ResilienceState(bool enabled, IOptions<ResilienceOptions> options, TimeProvider time, ILogger<ResilienceState> logger, ClusterReachability? reachability = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var o = options.Value;
        Enabled = enabled;
        Options = o;
        _logger = logger;
        Cluster = new DependencyGuard(Breaker("cluster", o, time), o.DataPlaneTimeout, DependencyGuard.IsClusterOutage, reachability, o.SlowCallTimeout);
        Redis = new DependencyGuard(Breaker("redis", o, time), o.DataPlaneTimeout, DependencyGuard.IsRedisOutage);
        Cluster.Breaker.StateChanged += OnStateChanged;
        Redis.Breaker.StateChanged += OnStateChanged;
        if (enabled)
        {
            Live.TryAdd(this, 0);
        }
    }

    private static CircuitBreaker Breaker(string name, ResilienceOptions o, TimeProvider time)
        => new(name, o.BreakerMinimumThroughput, o.BreakerOpenFor, time, o.BreakerFailureRatio, o.BreakerSamplingDuration);

    /// <summary>Leaves the breaker gauge (the host is done with this gateway).</summary>
    public void Dispose() => Live.TryRemove(this, out _);

    /// <summary>False in embedded mode: no timeouts, breakers or fallback.</summary>
    public bool Enabled { get; }

    /// <summary>The options in force.</summary>
    public ResilienceOptions Options { get; }

    /// <summary>The grain cluster's guard.</summary>
    public DependencyGuard Cluster { get; }

    /// <summary>Redis's guard (fallback counters, route reads).</summary>
    public DependencyGuard Redis { get; }

    /// <summary><c>normal</c>, <c>fallback</c> (the cluster is down, Redis answers) or <c>degraded</c> (Redis is down), from the breakers alone.</summary>
    public string Mode => ModeWith(clusterAnswered: true, redisAnswered: true);

    /// <inheritdoc />
    public string ModeWith(bool clusterAnswered, bool redisAnswered)
    {
        if (!Enabled)
        {
            return "normal";
        }

        var clusterDown = !clusterAnswered || Cluster.Breaker.State != BreakerState.Closed;
        var redisDown = !redisAnswered || Redis.Breaker.State != BreakerState.Closed;
        return redisDown ? "degraded" : clusterDown ? "fallback" : "normal";
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, string> Breakers => Enabled
        ? new Dictionary<string, string> { ["cluster"] = Cluster.Breaker.State.ToString(), ["redis"] = Redis.Breaker.State.ToString() }
        : new Dictionary<string, string>();

    /// <summary>Marks an answer on the response (<c>X-Coordinator-Mode</c>) and counts it. Normal answers carry no mark.</summary>
    public static void Mark(HttpContext context, string feature, ServedMode mode)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (mode == ServedMode.Normal)
        {
            return;
        }

        context.Response.Headers["X-Coordinator-Mode"] = HeaderValue(mode);
        Count(feature, mode);
    }

    /// <summary>Counts an answer served in <paramref name="mode"/> (gRPC paths mark their own metadata).</summary>
    public static void Count(string feature, ServedMode mode)
    {
        if (mode != ServedMode.Normal)
        {
            ModeAnswers.Add(1, new KeyValuePair<string, object?>("feature", feature), new KeyValuePair<string, object?>("mode", HeaderValue(mode)));
        }
    }

    /// <summary>The header value for a mode.</summary>
    public static string HeaderValue(ServedMode mode) => mode switch
    {
        ServedMode.Fallback => "fallback",
        ServedMode.Degraded => "degraded",
        _ => "normal",
    };

    /// <summary>Calls the cluster under its guard (embedded mode: directly).</summary>
    public Task<T> CallClusterAsync<T>(Func<Task<T>> call) => Enabled ? Cluster.RunAsync(call) : call();

    /// <summary>True for an id the fallback minted (cluster mode only): it lives in Redis, whatever the mode now.</summary>
    public bool IsFallbackId(string id) => Enabled && id.StartsWith(GrainKeys.FallbackIdPrefix, StringComparison.Ordinal);

    /// <summary>
    /// Runs one data-plane decision under the feature's failure modes: the grains first; when the cluster is
    /// down, <paramref name="fallback"/> (Redis counters; null when it cannot decide, e.g. no budget is known), or
    /// the open answer, or 503; when Redis is down too (or the grains report that Redis failed), the open answer
    /// or 503.
    /// </summary>
    public async Task<(T Value, ServedMode Mode)> DecideAsync<T>(
        ClusterOutageMode clusterMode, RedisOutageMode redisMode, Func<Task<T>> grains, Func<Task<T>>? fallback, Func<T> open)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(open);
        if (!Enabled)
        {
            return (await grains(), ServedMode.Normal);
        }

        try
        {
            return (await Cluster.RunAsync(grains), ServedMode.Normal);
        }
        catch (DependencyDownException) when (clusterMode == ClusterOutageMode.Open)
        {
            return (open(), ServedMode.Degraded);
        }
        catch (DependencyDownException) when (clusterMode == ClusterOutageMode.Fallback)
        {
            return await FallBackAsync(redisMode, fallback, open);
        }
        catch (Exception ex) when (redisMode == RedisOutageMode.Open && (ex is CoordinatorUnavailableException || StorageFailures.Is(ex)))
        {
            return (open(), ServedMode.Degraded);
        }
    }

    private static async Task<(T Value, ServedMode Mode)> FallBackAsync<T>(RedisOutageMode redisMode, Func<Task<T>>? fallback, Func<T> open)
    {
        try
        {
            if (fallback is null)
            {
                throw new DependencyDownException("redis", "the fallback has no limit to enforce");
            }

            return (await fallback(), ServedMode.Fallback);
        }
        catch (DependencyDownException) when (redisMode == RedisOutageMode.Open)
        {
            return (open(), ServedMode.Degraded);
        }
    }

    private void OnStateChanged(CircuitBreaker breaker, BreakerState state)
    {
        BreakerTransitions.Add(1, new KeyValuePair<string, object?>("dependency", breaker.Name), new KeyValuePair<string, object?>("state", state.ToString()));
        if (state == BreakerState.Open)
        {
            LogBreakerOpen(_logger, breaker.Name, breaker.LastFailure ?? "unknown");
        }
        else
        {
            LogBreaker(_logger, breaker.Name, state);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Circuit breaker for {Dependency} is now {State}.")]
    private static partial void LogBreaker(ILogger logger, string dependency, BreakerState state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Circuit breaker for {Dependency} is now Open; last failure: {Reason}")]
    private static partial void LogBreakerOpen(ILogger logger, string dependency, string reason);
}
