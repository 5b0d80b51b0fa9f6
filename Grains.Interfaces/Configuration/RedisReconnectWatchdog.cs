using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>
/// Keeps a long-lived multiplexer from staying disconnected after Redis comes back. StackExchange.Redis reconnects
/// on its own heartbeat (every 1 s, backing off up to 10 s); a CI run once saw grain storage answer "No connection is
/// active/available" for more than 30 s after a Redis restart while Redis itself answered. The watchdog sends one
/// <c>PING</c> per <see cref="Interval"/> (1 s); once pings have failed for <see cref="StuckAfter"/> (5 s) it asks the
/// client to reconfigure (reconnect and re-detect the server, the library's own recovery path), at most once per
/// <see cref="StuckAfter"/>, and logs when it does and when Redis answers again.
/// </summary>
public sealed partial class RedisReconnectWatchdog : IAsyncDisposable
{
    /// <summary>Time between pings: 1 s.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <summary>How long pings must fail before the client is asked to reconfigure: 5 s.</summary>
    public static readonly TimeSpan StuckAfter = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private RedisReconnectWatchdog(IConnectionMultiplexer multiplexer, ILogger logger, TimeProvider time)
        => _loop = RunAsync(multiplexer, logger, time, _stop.Token);

    /// <summary>Starts watching <paramref name="multiplexer"/>; dispose to stop.</summary>
    public static RedisReconnectWatchdog Start(IConnectionMultiplexer multiplexer, ILogger logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(multiplexer);
        ArgumentNullException.ThrowIfNull(logger);
        return new RedisReconnectWatchdog(multiplexer, logger, time ?? TimeProvider.System);
    }

    /// <summary>How many times the client was asked to reconfigure (for tests and diagnostics).</summary>
    public int Reconfigurations { get; private set; }

    private async Task RunAsync(IConnectionMultiplexer multiplexer, ILogger logger, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        long? failingSince = null;
        long lastReconfigure = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                var now = time.GetTimestamp();
                if (await PingsAsync(multiplexer, cancellationToken))
                {
                    if (failingSince is { } since && lastReconfigure > since)
                    {
                        LogRecovered(logger, time.GetElapsedTime(since).TotalMilliseconds);
                    }

                    failingSince = null;
                    continue;
                }

                failingSince ??= now;
                if (time.GetElapsedTime(failingSince.Value, now) < StuckAfter || (lastReconfigure != 0 && time.GetElapsedTime(lastReconfigure, now) < StuckAfter))
                {
                    continue;
                }

                lastReconfigure = now;
                Reconfigurations++;
                LogReconfiguring(logger, time.GetElapsedTime(failingSince.Value, now).TotalMilliseconds);
                try
                {
                    await multiplexer.ConfigureAsync().WaitAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException or InvalidOperationException)
                {
                    // Redis is really down: the next round tries again.
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (ObjectDisposedException)
        {
            // The multiplexer was disposed before the watchdog: nothing left to watch.
        }
    }

    private static async Task<bool> PingsAsync(IConnectionMultiplexer multiplexer, CancellationToken cancellationToken)
    {
        try
        {
            await multiplexer.GetDatabase().PingAsync().WaitAsync(Interval, cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis has not answered a PING for {ElapsedMs:0} ms: asking the client to reconnect and re-detect the server.")]
    private static partial void LogReconfiguring(ILogger logger, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis answers again, {ElapsedMs:0} ms after the first failed PING.")]
    private static partial void LogRecovered(ILogger logger, double elapsedMs);
}
