namespace Orleans.Coordinator.Resilience;

/// <summary>The state of a <see cref="CircuitBreaker"/>.</summary>
public enum BreakerState
{
    /// <summary>Calls go through; consecutive failures are counted.</summary>
    Closed = 0,

    /// <summary>One trial call is under way; everything else is answered at once as if open.</summary>
    HalfOpen = 1,

    /// <summary>Calls are answered at once without trying the dependency.</summary>
    Open = 2,
}

/// <summary>
/// A consecutive-failure circuit breaker. <see cref="BreakerFailureThreshold"/> failures in a row open it; once
/// <c>openFor</c> has passed, the next caller (or the background probe) gets the one trial call: success closes
/// the breaker, failure opens it again for another <c>openFor</c>. Thread-safe; time comes from
/// <see cref="TimeProvider"/>.
/// </summary>
public sealed class CircuitBreaker(string name, int failureThreshold, TimeSpan openFor, TimeProvider time)
{
    private readonly Lock _gate = new();
    private volatile BreakerState _state; // read without the lock on the hot paths
    private int _failures;
    private DateTimeOffset _openUntil;

    /// <summary>The dependency this breaker guards (<c>cluster</c>, <c>redis</c>).</summary>
    public string Name { get; } = name;

    /// <summary>Consecutive failures that open the breaker.</summary>
    public int BreakerFailureThreshold { get; } = failureThreshold;

    /// <summary>Raised after every state change, outside the lock.</summary>
    public event Action<CircuitBreaker, BreakerState>? StateChanged;

    /// <summary>The current state.</summary>
    public BreakerState State
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <summary>True when a trial is due: the breaker is open and its open period has passed.</summary>
    public bool TrialDue
    {
        get
        {
            lock (_gate)
            {
                return _state == BreakerState.Open && time.GetUtcNow() >= _openUntil;
            }
        }
    }

    /// <summary>
    /// Asks to call the dependency. False while open (or while another caller's trial is under way);
    /// true when closed, or when this caller gets the trial.
    /// </summary>
    public bool TryEnter()
    {
        if (_state == BreakerState.Closed)
        {
            return true; // the hot path: no lock while closed
        }

        bool changed;
        lock (_gate)
        {
            switch (_state)
            {
                case BreakerState.Closed:
                    return true;
                case BreakerState.Open when time.GetUtcNow() >= _openUntil:
                    _state = BreakerState.HalfOpen;
                    changed = true;
                    break;
                default:
                    return false;
            }
        }

        Raise(changed, BreakerState.HalfOpen);
        return true;
    }

    /// <summary>The dependency answered.</summary>
    public void Success()
    {
        if (_state == BreakerState.Closed && Volatile.Read(ref _failures) == 0)
        {
            return; // nothing to reset
        }

        bool changed;
        lock (_gate)
        {
            _failures = 0;
            changed = _state != BreakerState.Closed;
            _state = BreakerState.Closed;
        }

        Raise(changed, BreakerState.Closed);
    }

    /// <summary>Why the last failure counted (for the log line when the breaker opens); null before any.</summary>
    public string? LastFailure { get; private set; }

    /// <summary>The dependency failed or did not answer in time; <paramref name="reason"/> says how.</summary>
    public void Failure(string? reason = null)
    {
        bool changed = false;
        lock (_gate)
        {
            LastFailure = reason ?? LastFailure;
            _failures++;
            if (_state == BreakerState.HalfOpen || (_state == BreakerState.Closed && _failures >= BreakerFailureThreshold))
            {
                changed = _state != BreakerState.Open;
                _state = BreakerState.Open;
                _openUntil = time.GetUtcNow() + openFor;
            }
        }

        Raise(changed, BreakerState.Open);
    }

    private void Raise(bool changed, BreakerState state)
    {
        if (changed)
        {
            StateChanged?.Invoke(this, state);
        }
    }
}
