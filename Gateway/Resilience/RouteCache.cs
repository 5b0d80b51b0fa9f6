using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Routing;
using StackExchange.Redis;

namespace Orleans.Coordinator.Resilience;

/// <summary>
/// The gateway's own copies of route lookups, so a mapping hit costs no grain call. A copy lives at most
/// <see cref="MappingOptions.GatewayCacheTtl"/> and never longer than the grain's copy had left
/// (<see cref="RouteResolution.ValidForMs"/>); it is dropped when any gateway writes or invalidates the route (the
/// mapping grain announces it, <see cref="RouteChangeFeed"/>), and every copy is dropped and none kept while this
/// gateway's Redis connection is broken (an announcement could be missed then).
/// </summary>
/// <remarks>
/// A lookup that was under way while an announcement arrived is not kept: each eviction advances a generation, and a
/// copy is stored only if the generation did not move since its lookup began.
/// </remarks>
public sealed class RouteCache(IOptions<MappingOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly long _maxTicks = (long)(options.Value.GatewayCacheTtl.TotalSeconds * time.TimestampFrequency);
    private readonly int _capacity = options.Value.GatewayCacheEntries;
    private long _generation;
    private long _lastSweep;
    private volatile bool _suspended;

    /// <summary>True when copies are kept at all (a positive <see cref="MappingOptions.GatewayCacheTtl"/> and capacity).</summary>
    public bool Enabled => _maxTicks > 0 && _capacity > 0;

    /// <summary>Advances with every eviction; take it before a lookup and hand it to <see cref="Store"/>.</summary>
    public long Generation => Volatile.Read(ref _generation);

    /// <summary>How many copies are held (expired ones included until they are next looked at).</summary>
    public int Count => _entries.Count;

    /// <summary>The copy of <paramref name="key"/>, when there is a live one.</summary>
    public bool TryGet(string key, out RouteResolution route)
    {
        if (!_suspended && _entries.TryGetValue(key, out var entry))
        {
            if (time.GetTimestamp() < entry.ExpiresAt)
            {
                route = entry.Route;
                return true;
            }

            _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
        }

        route = null!;
        return false;
    }

    /// <summary>
    /// Keeps <paramref name="route"/> unless an eviction happened since <paramref name="generationAtLookup"/>, the grain
    /// said not to reuse it, copies are suspended, or the cache is full (expired copies are swept once a second then).
    /// </summary>
    public void Store(string key, RouteResolution route, long generationAtLookup)
    {
        if (!Enabled || _suspended || route.ValidForMs <= 0 || Generation != generationAtLookup)
        {
            return;
        }

        var now = time.GetTimestamp();
        if (_entries.Count >= _capacity && !SweepExpired(now))
        {
            return;
        }

        var ticks = Math.Min(_maxTicks, route.ValidForMs * time.TimestampFrequency / 1000);
        var entry = new Entry(route, now + ticks);
        _entries[key] = entry;
        if (Generation != generationAtLookup)
        {
            // An eviction raced the store: it may have run before the copy was in, so take the copy out again.
            _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
        }
    }

    /// <summary>Drops the copy of <paramref name="key"/> (a write or an announcement).</summary>
    public void Evict(string key)
    {
        Interlocked.Increment(ref _generation);
        _entries.TryRemove(key, out _);
    }

    /// <summary>Drops every copy and keeps none until <see cref="Resume"/> (the change feed cannot be trusted).</summary>
    public void Suspend()
    {
        _suspended = true;
        Interlocked.Increment(ref _generation);
        _entries.Clear();
    }

    /// <summary>
    /// Keeps copies again (the change feed is connected). Advances the generation: a lookup that began while copies
    /// were off may carry a route whose announcement was missed, so it is not kept.
    /// </summary>
    public void Resume()
    {
        Interlocked.Increment(ref _generation);
        _suspended = false;
    }

    private bool SweepExpired(long now)
    {
        var last = Volatile.Read(ref _lastSweep);
        if (now - last < time.TimestampFrequency || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return false;
        }

        foreach (var (key, entry) in _entries)
        {
            if (now >= entry.ExpiresAt)
            {
                _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
            }
        }

        return _entries.Count < _capacity;
    }

    private sealed record Entry(RouteResolution Route, long ExpiresAt);
}

/// <summary>
/// Cluster mode: listens for the mapping grains' route announcements and the response-cache grains' entry announcements
/// (<see cref="GrainKeys.ResponseCacheChange"/>) on Redis pub/sub (<see cref="GrainKeys.RedisRouteChangesChannel"/>) and
/// evicts the gateway's copies (<see cref="RouteCache"/>, <see cref="ResponseCacheCopies"/>). Copies are kept only while the
/// subscription is known to work: any connection failure suspends them, and they resume only after a probe published
/// on the channel came back on it (after the subscription was made, and after every reconnection) with no failure
/// in between. When Redis refuses the subscription (an ACL user without <c>subscribe</c> on the channel), the gateway
/// keeps no copies at all and says so once in the log.
/// </summary>
/// <remarks>
/// It also listens to Redis keyspace notifications of route keys (<c>__keyspace@{db}__:{prefix}route:*</c>), so a route
/// written with <c>redis-cli SET/DEL</c> evicts this gateway's copy at once (silos, with
/// <c>Redis:ConfigureKeyspaceEvents</c>, turn the notifications on), and to tenant announcements
/// (<see cref="GrainKeys.TenantChange"/>), so a policy or configuration changed through any gateway is dropped here too.
/// </remarks>
internal sealed partial class RouteChangeFeed(
    IConnectionMultiplexer multiplexer, RouteCache cache, ResponseCacheCopies copies, Tenants.DocumentCopies documents,
    Tenants.TenantCache tenants, IOptions<CoordinatorRedisOptions> redis, ILogger<RouteChangeFeed> logger)
    : BackgroundService
{
    private const string ProbePrefix = "\u0001probe:";
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(2);
    private readonly SemaphoreSlim _confirm = new(0);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _probes = new(StringComparer.Ordinal);
    private readonly RedisChannel _channel = RedisChannel.Literal(GrainKeys.RedisRouteChangesChannel(redis.Value.KeyPrefix));
    private long _failures;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!cache.Enabled && !copies.Enabled && !documents.Enabled)
        {
            return;
        }

        SuspendAll();
        multiplexer.ConnectionFailed += OnFailed;
        multiplexer.ConnectionRestored += OnRestored;
        try
        {
            if (!await SubscribeAsync(stoppingToken))
            {
                return;
            }

            while (!stoppingToken.IsCancellationRequested)
            {
                await ConfirmAndResumeAsync(stoppingToken);
                await _confirm.WaitAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            multiplexer.ConnectionFailed -= OnFailed;
            multiplexer.ConnectionRestored -= OnRestored;
            SuspendAll();
        }
    }

    /// <summary>Subscribes (retrying while Redis cannot be reached); false when Redis refused it.</summary>
    private async Task<bool> SubscribeAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            try
            {
                var queue = await multiplexer.GetSubscriber().SubscribeAsync(_channel);
                queue.OnMessage(OnMessage);
                await SubscribeToRouteKeysAsync();
                return true;
            }
            catch (RedisServerException ex)
            {
                LogRefused(logger, ex.Message);
                return false;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                await Task.Delay(RetryEvery, stoppingToken);
            }
        }
    }

    /// <summary>Keyspace events of route keys evict copies; refused (an ACL without the channel) only costs that speed-up.</summary>
    private async Task SubscribeToRouteKeysAsync()
    {
        try
        {
            var db = multiplexer.GetDatabase().Database;
            var keys = await multiplexer.GetSubscriber().SubscribeAsync(GrainKeys.RedisRouteKeyspaceChannel(redis.Value.KeyPrefix, db));
            keys.OnMessage(message =>
            {
                if (GrainKeys.TryParseRouteKeyspaceChannel(message.Channel.ToString(), redis.Value.KeyPrefix, db, out var identifier))
                {
                    cache.Evict(identifier);
                }
            });
        }
        catch (RedisServerException ex)
        {
            LogKeyspaceRefused(logger, ex.Message);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Not subscribed now: routes written with redis-cli reach this gateway's copies within their ttl. The
            // announcements' subscription above stands, so it is not retried (that would subscribe it twice).
            LogKeyspaceRefused(logger, ex.GetType().Name);
        }
    }

    /// <summary>Resumes copies once a probe went round the channel with no connection failure meanwhile.</summary>
    private async Task ConfirmAndResumeAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            var failures = Interlocked.Read(ref _failures);
            var probe = ProbePrefix + Guid.NewGuid().ToString("N");
            var echoed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _probes[probe] = echoed;
            try
            {
                await multiplexer.GetSubscriber().PublishAsync(_channel, probe);
                await echoed.Task.WaitAsync(RetryEvery, stoppingToken);
                if (Interlocked.Read(ref _failures) == failures)
                {
                    cache.Resume();
                    copies.Resume();
                    documents.Resume();
                    return;
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Not connected yet, or the probe did not come back: try again.
            }
            finally
            {
                _probes.TryRemove(probe, out _);
            }

            await Task.Delay(RetryEvery, stoppingToken);
        }
    }

    private void OnMessage(ChannelMessage message)
    {
        if (message.Message.IsNullOrEmpty)
        {
            return;
        }

        var text = message.Message.ToString();
        if (text.StartsWith(ProbePrefix, StringComparison.Ordinal))
        {
            if (_probes.TryGetValue(text, out var echoed))
            {
                echoed.TrySetResult();
            }

            return;
        }

        if (GrainKeys.TryParseResponseCacheChange(text, out var grainKey, out var key))
        {
            copies.Evict(grainKey, key);
            return;
        }

        if (GrainKeys.TryParseDocumentChange(text, out var documentKey))
        {
            documents.Evict(documentKey);
            return;
        }

        if (GrainKeys.TryParseTenantChange(text, out var tenant, out var policy))
        {
            if (policy is null)
            {
                tenants.InvalidateConfig(tenant);
            }
            else
            {
                tenants.InvalidatePolicy(tenant, policy);
            }

            return;
        }

        cache.Evict(text);
    }

    private void OnFailed(object? sender, ConnectionFailedEventArgs e)
    {
        // Any connection: under RESP3 announcements share the interactive one, and suspending costs only speed.
        Interlocked.Increment(ref _failures);
        SuspendAll();
    }

    private void SuspendAll()
    {
        cache.Suspend();
        copies.Suspend();
        documents.Suspend();
    }

    private void OnRestored(object? sender, ConnectionFailedEventArgs e) => _confirm.Release();

    public override void Dispose()
    {
        _confirm.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis refused the subscription to route keys' keyspace events ({Reason}): routes written with redis-cli reach this gateway's copies within Mappings:GatewayCacheTtl.")]
    private static partial void LogKeyspaceRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis refused the subscription to route announcements ({Reason}): this gateway keeps no route or response-cache copies (every lookup asks the grain). Give the ACL user +subscribe and the channel (deploy/redis/users.acl).")]
    private static partial void LogRefused(ILogger logger, string reason);
}
