using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using StackExchange.Redis;

namespace Orleans.Coordinator.Grains.Infrastructure;

/// <summary>
/// The one Redis connection of a silo process, shared by membership, grain storage and route mappings.
/// Connects on first use; a failed connect is retried by the next caller instead of being cached.
/// </summary>
public sealed partial class CoordinatorRedis(IOptions<CoordinatorRedisOptions> options, ILogger<CoordinatorRedis> logger) : IAsyncDisposable
{
    /// <summary>The Redis options in force.</summary>
    public CoordinatorRedisOptions Options => options.Value;

    private Task<IConnectionMultiplexer>? _connecting;
    private RedisReconnectWatchdog? _watchdog;

    private readonly List<Action<IConnectionMultiplexer>> _onConnected = [];
    private IConnectionMultiplexer? _connected;

    /// <summary>
    /// Runs <paramref name="action"/> with the shared connection: at once when it is up, else when it connects (and with
    /// each later new connection), exactly once per connection. OpenTelemetry's Redis client instrumentation registers
    /// its profiler this way.
    /// </summary>
    public void WhenConnected(Action<IConnectionMultiplexer> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        IConnectionMultiplexer? connected;
        lock (_onConnected)
        {
            _onConnected.Add(action);
            connected = _connected;
        }

        if (connected is not null)
        {
            Run(action, connected);
        }
    }

    /// <summary>A failing hook (e.g. a profiler registration) is logged and never costs the connection.</summary>
    private void Run(Action<IConnectionMultiplexer> action, IConnectionMultiplexer multiplexer)
    {
        try
        {
            action(multiplexer);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogHookFailed(logger, ex.GetType().Name);
        }
    }

    /// <summary>The configured key prefix.</summary>
    public string KeyPrefix => options.Value.KeyPrefix;

    /// <summary>The shared multiplexer, connecting if needed.</summary>
    public Task<IConnectionMultiplexer> GetAsync()
    {
        var current = Volatile.Read(ref _connecting);
        if (current is { IsFaulted: false, IsCanceled: false })
        {
            return current;
        }

        // Only the caller that installs its task connects: concurrent first callers share one connection and one watchdog.
        var next = new TaskCompletionSource<IConnectionMultiplexer>(TaskCreationOptions.RunContinuationsAsynchronously);
        var winner = Interlocked.CompareExchange(ref _connecting, next.Task, current);
        if (!ReferenceEquals(winner, current))
        {
            return winner!;
        }

        _ = ConnectIntoAsync(next);
        return next.Task;
    }

    private async Task ConnectIntoAsync(TaskCompletionSource<IConnectionMultiplexer> result)
    {
        try
        {
            var multiplexer = await ConnectAsync();
            _watchdog = RedisReconnectWatchdog.Start(multiplexer, logger);
            Action<IConnectionMultiplexer>[] actions;
            lock (_onConnected)
            {
                _connected = multiplexer;
                actions = [.. _onConnected];
            }

            foreach (var action in actions)
            {
                Run(action, multiplexer);
            }

            result.SetResult(multiplexer);
        }
        catch (Exception ex)
        {
            result.SetException(ex);
        }
    }

    /// <summary>The default database of the shared multiplexer.</summary>
    public async Task<IDatabase> GetDatabaseAsync() => (await GetAsync()).GetDatabase();

    /// <summary>
    /// Runs a command against the default database, turning Redis failures into
    /// <see cref="Interfaces.CoordinatorUnavailableException"/>, which crosses grain calls (Redis's own exceptions do not).
    /// </summary>
    public async Task<T> RunAsync<T>(string operation, Func<IDatabase, Task<T>> command)
    {
        ArgumentNullException.ThrowIfNull(command);
        // Client spans come from OpenTelemetry.Instrumentation.StackExchangeRedis (its profiler sees every command).
        try
        {
            return await command(await GetDatabaseAsync());
        }
        catch (RedisException ex)
        {
            throw new Interfaces.CoordinatorUnavailableException($"Redis did not answer ({operation}): {ex.GetType().Name}");
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        var current = Volatile.Read(ref _connecting);
        if (_watchdog is { } watchdog)
        {
            await watchdog.DisposeAsync();
        }

        if (current is { IsCompletedSuccessfully: true })
        {
            await current.Result.DisposeAsync();
        }
    }

    /// <summary>Builds StackExchange.Redis options from <see cref="CoordinatorRedisOptions"/>.</summary>
    public static ConfigurationOptions BuildConfiguration(CoordinatorRedisOptions options)
    {
        if (!RedisConnectionString.TryNormalize(options.ConnectionString ?? string.Empty, out var configuration, out var error))
        {
            throw new InvalidOperationException($"Redis:ConnectionString is not valid: {error}");
        }

        var config = ConfigurationOptions.Parse(configuration);
        config.ClientName ??= "orleans-coordinator";
        // While Redis is unreachable, fail commands at once instead of queueing them for later: a write the
        // caller was told failed must not land after the fact, and a failing dependency must cost little time.
        config.BacklogPolicy = BacklogPolicy.FailFast;
        if (!string.IsNullOrEmpty(options.CaCertificatePath))
        {
            config.TrustIssuer(options.CaCertificatePath);
        }

        return config;
    }

    private async Task<IConnectionMultiplexer> ConnectAsync()
    {
        var config = BuildConfiguration(options.Value);
        try
        {
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(config);
            LogConnected(logger, config.ToString(includePassword: false));
            return multiplexer;
        }
        catch (RedisConnectionException ex) when (ex.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            // Not logged: the exception says it all, and at startup it is the one line the process prints.
            throw new CoordinatorConfigurationException(
                $"Redis at {string.Join(", ", config.EndPoints)} refused the credentials in Redis:ConnectionString" +
                (string.IsNullOrEmpty(config.User) ? string.Empty : $" (user '{config.User}')") + ": check the user and password (ACL).", ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to Redis at {Endpoint}.")]
    private static partial void LogConnected(ILogger logger, string endpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A hook on the Redis connection failed ({Error}); the connection is used all the same")]
    private static partial void LogHookFailed(ILogger logger, string error);
}
