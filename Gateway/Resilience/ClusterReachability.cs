using System.Diagnostics;
using Orleans.Coordinator.Grains.Interfaces;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// Whether the grain cluster answers at all, so that a slow call (a cold grain activation reading its state) is told
/// apart from an unreachable cluster. Every successful cluster call is an answer; when none came for
/// <see cref="StaleAfter"/>, the next call also sends one ping (<see cref="IClusterPingGrain"/>, a stateless worker on the
/// silo the gateway enters through), shared by every call in the meantime; so does a call that heard nothing half-way
/// through its timeout. A call that is still running at the data-plane timeout keeps waiting only if some answer (a
/// call or the ping) arrived after it began.
/// </summary>
public sealed class ClusterReachability(IGrainFactory grains)
{
    /// <summary>How old the last answer may be before a call also pings.</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMilliseconds(100);

    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(1);
    private static readonly long StaleTicks = (long)(StaleAfter.TotalSeconds * Stopwatch.Frequency);
    private long _lastAnswer;
    private int _pinging;

    /// <summary>Called as a cluster call starts: pings when no answer came for <see cref="StaleAfter"/> and none is on its way.</summary>
    public void CallStarting(long now)
    {
        if (now - Volatile.Read(ref _lastAnswer) > StaleTicks)
        {
            Ping();
        }
    }

    /// <summary>Sends a ping unless one is on its way.</summary>
    public void Ping()
    {
        if (Interlocked.CompareExchange(ref _pinging, 1, 0) == 0)
        {
            _ = PingAsync();
        }
    }

    /// <summary>A cluster call succeeded.</summary>
    public void Answered(long now) => Volatile.Write(ref _lastAnswer, now);

    /// <summary>True while a ping is on its way.</summary>
    public bool Pinging => Volatile.Read(ref _pinging) == 1;

    /// <summary>True when the cluster answered something (a call or the ping) after <paramref name="since"/>.</summary>
    public bool AnsweredSince(long since) => Volatile.Read(ref _lastAnswer) > since;

    private async Task PingAsync()
    {
        try
        {
            await grains.GetGrain<IClusterPingGrain>(0).PingAsync().WaitAsync(PingTimeout);
            Answered(Stopwatch.GetTimestamp());
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // No answer: calls waiting on the cluster give up at their timeout.
        }
        finally
        {
            Volatile.Write(ref _pinging, 0);
        }
    }
}
