using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using StackExchange.Redis;

namespace Orleans.Coordinator.Grains.Routing;

/// <summary>
/// Per silo: one change counter per identifier whose mapping grain is active here. A route written behind the grains'
/// back (<c>redis-cli SET/DEL {prefix}route:{id}</c>) bumps the counter (<see cref="RouteKeyspaceListener"/>), and the
/// grain, seeing it moved, reads the store again instead of answering its copy. Only active grains have a counter, so a
/// bulk import of routes costs a dictionary lookup per key and activates nothing.
/// </summary>
public sealed class RouteChangeStamps
{
    private readonly ConcurrentDictionary<string, Stamp> _stamps = new(StringComparer.Ordinal);

    /// <summary>The counter of <paramref name="identifierKey"/>, shared by every activation of it on this silo.</summary>
    public Stamp Acquire(string identifierKey)
    {
        while (true)
        {
            var stamp = _stamps.GetOrAdd(identifierKey, _ => new Stamp());
            lock (stamp)
            {
                if (stamp.Holders >= 0)
                {
                    stamp.Holders++;
                    return stamp;
                }
            }

            _stamps.TryRemove(new KeyValuePair<string, Stamp>(identifierKey, stamp)); // being released: take a new one
        }
    }

    /// <summary>Gives back a counter taken by <see cref="Acquire"/> (the grain deactivates).</summary>
    public void Release(string identifierKey, Stamp stamp)
    {
        ArgumentNullException.ThrowIfNull(stamp);
        lock (stamp)
        {
            if (--stamp.Holders > 0)
            {
                return;
            }

            stamp.Holders = -1;
        }

        _stamps.TryRemove(new KeyValuePair<string, Stamp>(identifierKey, stamp));
    }

    /// <summary>
    /// The route of <paramref name="identifierKey"/> changed in Redis: its active grain, if any, reads it again. True
    /// when a grain here holds the identifier.
    /// </summary>
    public bool Bump(string identifierKey)
    {
        if (_stamps.TryGetValue(identifierKey, out var stamp))
        {
            Interlocked.Increment(ref stamp.Version);
            return true;
        }

        return false;
    }

    /// <summary>How many identifiers have an active grain here.</summary>
    public int Count => _stamps.Count;

    /// <summary>A change counter.</summary>
    public sealed class Stamp
    {
        /// <summary>Grows with every change seen; read it with <c>Volatile.Read</c>.</summary>
        public long Version;

        internal int Holders;
    }
}

/// <summary>
/// Listens to Redis keyspace notifications for route keys (<c>__keyspace@{db}__:{prefix}route:*</c>) and bumps
/// <see cref="RouteChangeStamps"/>, so a route written with <c>redis-cli SET</c> or <c>DEL</c> is seen by its mapping
/// grain at once. Needs <c>notify-keyspace-events</c> to include <c>K</c>, <c>$</c> and <c>g</c> (deploy/redis/redis.conf
/// sets <c>K$g</c>); with <c>Redis:ConfigureKeyspaceEvents</c> (default true) the silo adds them at start through
/// <c>CONFIG SET</c> when Redis allows it. Whether events arrive is checked by a probe key at start and after each
/// reconnection; when they do not (notifications off, <c>CONFIG</c> refused, or a message lost on a broken connection),
/// the copies' time to live (<c>Mappings:CacheTtl</c>) still bounds how stale a route can be, and the log says so once.
/// </summary>
internal sealed partial class RouteKeyspaceListener(CoordinatorRedis redis, RouteChangeStamps stamps, IRouteStore announcements, ILogger<RouteKeyspaceListener> logger) : BackgroundService
{
    private static readonly TimeSpan ProbeWait = TimeSpan.FromSeconds(2);
    /// <summary>Probes awaiting their event, of every run under way (one runs per restored connection, so runs overlap).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _probes = new(StringComparer.Ordinal);
    private int _probeRuns;
    private int _database;

    /// <summary>The probes' identifiers start with this: <c>#</c> is outside every identifier's character set, so they name no route.</summary>
    private const string ProbeIdentifier = "#keyspace-probe";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        IConnectionMultiplexer multiplexer;
        try
        {
            multiplexer = await redis.GetAsync().WaitAsync(stoppingToken);
            if (redis.Options.ConfigureKeyspaceEvents)
            {
                await EnableAsync();
            }

            _database = multiplexer.GetDatabase().Database;
            var channel = GrainKeys.RedisRouteKeyspaceChannel(redis.KeyPrefix, _database);
            var queue = await multiplexer.GetSubscriber().SubscribeAsync(channel);
            queue.OnMessage(OnMessage);
            multiplexer.ConnectionRestored += (_, e) =>
            {
                // Once per restored subscription connection: a restarted or failed-over Redis lost a CONFIG SET.
                if (e.ConnectionType == ConnectionType.Subscription)
                {
                    _ = RestoredAsync(multiplexer);
                }
            };
            await ProbeAsync(multiplexer, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or CoordinatorUnavailableException)
        {
            LogOff(logger, ex.GetType().Name);
        }
    }

    private async Task RestoredAsync(IConnectionMultiplexer multiplexer)
    {
        if (redis.Options.ConfigureKeyspaceEvents)
        {
            await EnableAsync();
        }

        await ProbeAsync(multiplexer, CancellationToken.None);
    }

    private void OnMessage(ChannelMessage message)
    {
        if (!GrainKeys.TryParseRouteKeyspaceChannel(message.Channel.ToString(), redis.KeyPrefix, _database, out var identifier))
        {
            return;
        }

        if (identifier.StartsWith(ProbeIdentifier, StringComparison.Ordinal))
        {
            if (_probes.TryGetValue(identifier, out var probe))
            {
                probe.TrySetResult();
            }

            return;
        }

        if (stamps.Bump(identifier))
        {
            // The gateways dropped their copies on the same event, possibly before this grain knew: they may have asked
            // it and kept its old answer. Announcing after the bump makes them drop that copy again.
            _ = announcements.AnnounceChangeAsync(identifier);
        }
    }

    /// <summary>
    /// Writes and deletes a probe key on every primary (on a Redis Cluster each master publishes the events of its own keys)
    /// and waits for their events: says in the log whether route events arrive, and from how many primaries.
    /// </summary>
    private async Task ProbeAsync(IConnectionMultiplexer multiplexer, CancellationToken cancellationToken)
    {
        var run = Interlocked.Increment(ref _probeRuns);
        var probes = ProbeIdentifiers(multiplexer, run).ToDictionary(id => id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), StringComparer.Ordinal);
        if (probes.Count == 0)
        {
            LogOff(logger, "no primary holding slots was found to probe");
            return;
        }

        foreach (var (identifier, probe) in probes)
        {
            _probes[identifier] = probe;
        }

        try
        {
            foreach (var identifier in probes.Keys)
            {
                var key = (RedisKey)GrainKeys.RedisRouteKey(redis.KeyPrefix, identifier);
                await multiplexer.GetDatabase().StringSetAsync(key, "probe");
                await multiplexer.GetDatabase().KeyDeleteAsync(key);
            }

            await Task.WhenAll(probes.Values.Select(p => p.Task)).WaitAsync(ProbeWait, cancellationToken);
            LogOn(logger, probes.Count);
        }
        catch (TimeoutException)
        {
            var missing = probes.Count(p => !p.Value.Task.IsCompleted);
            LogOff(logger, $"no keyspace event came back within 2 s from {missing} of {probes.Count} primaries (notify-keyspace-events lacks K$g?)");
        }
        catch (Exception ex) when (ex is RedisException)
        {
            LogOff(logger, ex.GetType().Name);
        }
        finally
        {
            foreach (var identifier in probes.Keys)
            {
                _probes.TryRemove(identifier, out _);
            }
        }
    }

    /// <summary>
    /// One probe identifier per primary, unique to this <paramref name="run"/>: on a Redis Cluster, the first of
    /// <c>#keyspace-probe-{run}-N</c> whose key each master holds.
    /// </summary>
    private IEnumerable<string> ProbeIdentifiers(IConnectionMultiplexer multiplexer, int run)
    {
        var cluster = multiplexer.GetServers().FirstOrDefault(s => s.IsConnected && s.ServerType == ServerType.Cluster)?.ClusterConfiguration;
        if (cluster is null)
        {
            return [$"{ProbeIdentifier}-{run}"];
        }

        var primaries = cluster.Nodes.Where(n => !n.IsReplica && n.Slots.Count > 0).Select(n => n.EndPoint?.ToString()).ToHashSet();
        var chosen = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < 4096 && chosen.Count < primaries.Count; i++)
        {
            var identifier = $"{ProbeIdentifier}-{run}-{i}";
            if (cluster.GetBySlot((RedisKey)GrainKeys.RedisRouteKey(redis.KeyPrefix, identifier))?.EndPoint?.ToString() is { } owner && primaries.Contains(owner))
            {
                chosen.TryAdd(owner, identifier);
            }
        }

        return chosen.Values;
    }

    /// <summary>
    /// Adds <c>K</c>, <c>$</c> and <c>g</c> to <c>notify-keyspace-events</c> when they are missing and Redis allows
    /// <c>CONFIG</c>, on every primary (each node of a Redis Cluster has its own setting), over a short-lived admin
    /// connection (the shared one does not run admin commands).
    /// </summary>
    private async Task EnableAsync()
    {
        try
        {
            var config = CoordinatorRedis.BuildConfiguration(redis.Options);
            config.AllowAdmin = true;
            config.ClientName = "orleans-coordinator-config";
            await using var admin = await ConnectionMultiplexer.ConnectAsync(config);
            foreach (var server in admin.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            {
                var current = (await server.ConfigGetAsync("notify-keyspace-events")).FirstOrDefault().Value ?? "";
                var wanted = Merge(current);
                if (wanted != current)
                {
                    await server.ConfigSetAsync("notify-keyspace-events", wanted);
                    LogEnabled(logger, current, wanted);
                }
            }
        }
        catch (Exception ex) when (ex is RedisException or RedisCommandException or InvalidOperationException or TimeoutException)
        {
            LogConfigRefused(logger, ex.GetType().Name);
        }
    }

    /// <summary>The flags with keyspace events (<c>K</c>) for string (<c>$</c>) and generic (<c>g</c>) commands added.</summary>
    internal static string Merge(string flags)
    {
        var result = flags;
        if (!result.Contains('K', StringComparison.Ordinal))
        {
            result += "K";
        }

        if (!result.Contains('A', StringComparison.Ordinal))
        {
            result += (result.Contains('$', StringComparison.Ordinal) ? "" : "$") + (result.Contains('g', StringComparison.Ordinal) ? "" : "g");
        }

        return result;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Route changes made in Redis directly (redis-cli SET/DEL) are seen at once: keyspace notifications arrive from {Primaries} primaries")]
    private static partial void LogOn(ILogger logger, int primaries);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Route changes made in Redis directly are seen only when copies expire (Mappings:CacheTtl): {Reason}")]
    private static partial void LogOff(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "notify-keyspace-events changed from '{Before}' to '{After}' so route changes made with redis-cli are seen")]
    private static partial void LogEnabled(ILogger logger, string before, string after);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis refused CONFIG for notify-keyspace-events ({Reason}); set 'notify-keyspace-events K$g' in redis.conf")]
    private static partial void LogConfigRefused(ILogger logger, string reason);
}
