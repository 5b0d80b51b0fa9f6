namespace Orleans.Coordinator.Grains.Infrastructure;

/// <summary>
/// The application's clock. Grains read time only through this, so tests can fake it without touching
/// the <see cref="TimeProvider"/> that drives Orleans' own timers.
/// </summary>
public sealed class CoordinatorClock(TimeProvider timeProvider)
{
    /// <summary>The underlying provider.</summary>
    public TimeProvider TimeProvider { get; } = timeProvider;

    /// <summary>Now, in Unix milliseconds.</summary>
    public long NowMs => TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
}
