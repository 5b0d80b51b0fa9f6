using Orleans.Coordinator.Hosting;
using Polly;
using Polly.CircuitBreaker;

namespace Orleans.Coordinator.Resilience;

/// <summary>The state of a <see cref="CircuitBreaker"/>.</summary>
public enum BreakerState
{
    /// <summary>Calls go through; their outcomes are sampled.</summary>
    Closed = 0,

    /// <summary>One trial call is under way; everything else is answered at once as if open.</summary>
    HalfOpen = 1,

    /// <summary>Calls are answered at once without trying the dependency.</summary>
    Open = 2,
}

/// <summary>
/// One dependency's circuit breaker: a Polly v8 circuit-breaker strategy (<see cref="Pipeline"/>) that counts
/// <see cref="DependencyDownException"/> as failures. It opens when, within <see cref="SamplingDuration"/>, at least
/// <see cref="MinimumThroughput"/> calls were made and the share of them that failed reached <see cref="FailureRatio"/>;
/// once <c>openFor</c> has passed, the next caller (or the background probe) gets the one trial call: success closes
/// the breaker, failure opens it again for another <c>openFor</c>. Any other outcome (an answer, a validation error)
/// counts as success. Time comes from <see cref="TimeProvider"/>, which Polly's sampling windows use too.
/// </summary>
public sealed class CircuitBreaker
{
    private readonly CircuitBreakerStateProvider _state = new();
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private DateTimeOffset _openUntil;

    /// <summary>Builds the breaker's pipeline.</summary>
    /// <param name="name">The dependency it guards (<c>cluster</c>, <c>redis</c>).</param>
    /// <param name="minimumThroughput">Calls within the sampling window before the breaker may open (Polly's minimum is 2).</param>
    /// <param name="openFor">How long it answers at once once open (Polly's minimum is 500 ms).</param>
    /// <param name="time">The clock.</param>
    /// <param name="failureRatio">The share of failed calls in the window that opens it, in (0, 1].</param>
    /// <param name="samplingDuration">The window over which calls are sampled (Polly's minimum is 500 ms).</param>
    /// <exception cref="System.ComponentModel.DataAnnotations.ValidationException">A value is outside Polly's ranges.</exception>
    public CircuitBreaker(string name, int minimumThroughput, TimeSpan openFor, TimeProvider time, double failureRatio = 0.5, TimeSpan? samplingDuration = null)
    {
        Name = name;
        MinimumThroughput = minimumThroughput;
        FailureRatio = failureRatio;
        SamplingDuration = samplingDuration ?? TimeSpan.FromSeconds(2);
        _time = time;
        Pipeline = new ResiliencePipelineBuilder { Name = $"coordinator-{name}", TimeProvider = time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                Name = "breaker",
                ShouldHandle = new PredicateBuilder().Handle<DependencyDownException>(),
                FailureRatio = failureRatio,
                MinimumThroughput = minimumThroughput,
                SamplingDuration = SamplingDuration,
                BreakDuration = openFor,
                StateProvider = _state,
                OnOpened = args =>
                {
                    lock (_gate)
                    {
                        _openUntil = _time.GetUtcNow() + args.BreakDuration;
                        LastFailure = Describe(args.Outcome.Exception) ?? LastFailure;
                    }

                    StateChanged?.Invoke(this, BreakerState.Open);
                    return default;
                },
                OnHalfOpened = _ =>
                {
                    StateChanged?.Invoke(this, BreakerState.HalfOpen);
                    return default;
                },
                OnClosed = _ =>
                {
                    StateChanged?.Invoke(this, BreakerState.Closed);
                    return default;
                },
            })
            .Build();
    }

    /// <summary>The dependency this breaker guards (<c>cluster</c>, <c>redis</c>).</summary>
    public string Name { get; }

    /// <summary>Calls within <see cref="SamplingDuration"/> before the breaker may open.</summary>
    public int MinimumThroughput { get; }

    /// <summary>The share of failed calls within <see cref="SamplingDuration"/> that opens the breaker.</summary>
    public double FailureRatio { get; }

    /// <summary>The window over which outcomes are sampled.</summary>
    public TimeSpan SamplingDuration { get; }

    /// <summary>
    /// The Polly pipeline calls run through. A refused call throws <see cref="BrokenCircuitException"/>; a call that
    /// throws <see cref="DependencyDownException"/> counts as a failure.
    /// </summary>
    public ResiliencePipeline Pipeline { get; }

    /// <summary>Raised after every state change.</summary>
    public event Action<CircuitBreaker, BreakerState>? StateChanged;

    /// <summary>The current state (Polly's; <c>Isolated</c> is never used here and would read as open).</summary>
    public BreakerState State => _state.CircuitState switch
    {
        CircuitState.Closed => BreakerState.Closed,
        CircuitState.HalfOpen => BreakerState.HalfOpen,
        _ => BreakerState.Open,
    };

    /// <summary>True when a trial is due: the breaker is open and its open period has passed.</summary>
    public bool TrialDue
    {
        get
        {
            lock (_gate)
            {
                return State == BreakerState.Open && _time.GetUtcNow() >= _openUntil;
            }
        }
    }

    /// <summary>Why the failure that last opened the breaker counted (for the log line); null before any.</summary>
    public string? LastFailure { get; private set; }

    private static string? Describe(Exception? exception) => exception switch
    {
        DependencyDownException { InnerException: { } inner } down when down.Reason != "timeout" => $"{inner.GetType().Name}: {inner.Message}",
        DependencyDownException { Reason: "timeout" } => "no answer in time",
        DependencyDownException down => down.Reason,
        _ => exception?.GetType().Name,
    };
}
