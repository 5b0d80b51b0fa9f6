using System.Diagnostics;
using Orleans.Coordinator.Grains.Interfaces;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Whether the grain cluster answers at all, so that a slow call (a cold grain activation reading its state) is told
/// apart from an unreachable cluster. Every successful cluster call is an answer; when none came for
/// <see cref="StaleAfter"/>, the next call also sends one ping (<see cref="IClusterPingGrain"/>, a stateless worker on the
/// silo the gateway enters through), shared by every call in the meantime; so does a call that heard nothing half-way
/// through its timeout. A call that is still running at the data-plane timeout keeps waiting only if some answer (a
/// call or the ping) arrived after it began, or while a ping is on its way that has not failed lately.
/// </summary>
public sealed class ClusterReachability(IGrainFactory grains, TimeSpan pingTimeout)
{
    /// <summary>How old the last answer may be before a call also pings.</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMilliseconds(100);

    private static readonly long StaleTicks = (long)(StaleAfter.TotalSeconds * Stopwatch.Frequency);
    private static readonly long RecentTicks = 2 * Stopwatch.Frequency;
    private readonly Lock _gate = new();
    private long _lastAnswer;
    private long _pingFailedAt; // 0: never
    private long _stuckAt; // 0: never
    private Task _ping = Task.CompletedTask;

    /// <summary>Called as a cluster call starts: pings when no answer came for <see cref="StaleAfter"/> and none is on its way.</summary>
    public void CallStarting(long now)
    {
        if (now - Volatile.Read(ref _lastAnswer) > StaleTicks)
        {
            Ping();
        }
    }

    /// <summary>Sends a ping unless one is on its way; returns the ping under way (completes when it answered or failed).</summary>
    public Task Ping()
    {
        lock (_gate)
        {
            if (_ping.IsCompleted)
            {
                _ping = PingAsync();
            }

            return _ping;
        }
    }

    /// <summary>The ping on its way, when one is and no ping failed in the last 2 s (then it is worth waiting for); else null.</summary>
    public Task? PingWorthWaitingFor(long now)
    {
        lock (_gate)
        {
            return _ping.IsCompleted || Within(now, _pingFailedAt) ? null : _ping;
        }
    }

    /// <summary>
    /// False for 2 s after a call outlived the slow-call bound although the cluster answered: part of the cluster
    /// answers and part does not (a frozen or cut-off silo). Meanwhile calls are not given extra time, so the calls to
    /// the silo that does not answer cost the data-plane timeout rather than the slow-call bound each.
    /// </summary>
    public bool Patient(long now) => !Within(now, Volatile.Read(ref _stuckAt));

    /// <summary>A call outlived the slow-call bound while the cluster answered.</summary>
    public void Stuck(long now) => Volatile.Write(ref _stuckAt, now);

    /// <summary>A cluster call succeeded.</summary>
    public void Answered(long now) => Volatile.Write(ref _lastAnswer, now);

    /// <summary>True when the cluster answered something (a call or the ping) after <paramref name="since"/>.</summary>
    public bool AnsweredSince(long since) => Volatile.Read(ref _lastAnswer) > since;

    /// <summary>True when <paramref name="at"/> (0: never) is less than 2 s before <paramref name="now"/>.</summary>
    private static bool Within(long now, long at) => at != 0 && now - at < RecentTicks;

    private async Task PingAsync()
    {
        try
        {
            await grains.GetGrain<IClusterPingGrain>(0).PingAsync().WaitAsync(pingTimeout);
            Answered(Stopwatch.GetTimestamp());
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // No answer: calls waiting on the cluster give up at their timeout, and do not wait for pings for a while.
            Volatile.Write(ref _pingFailedAt, Stopwatch.GetTimestamp());
        }
    }
}
