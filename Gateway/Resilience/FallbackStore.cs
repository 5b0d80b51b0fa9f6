using Orleans.Coordinator.Hosting;
using System.Globalization;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Leases;
using StackExchange.Redis;

namespace Orleans.Coordinator.Resilience;

/// <summary>A lease granted or refused by the fallback; <paramref name="Active"/> and <paramref name="Limit"/> include the grain's leases and override.</summary>
public sealed record FallbackLeaseResult(bool Granted, string? LeaseId, int Active, long ExpiresAtMs, int Limit);

/// <summary>A byte charge decided by the fallback.</summary>
public sealed record FallbackBytesResult(bool Allowed, long Used, long Budget, long ResetAtMs);

/// <summary>
/// One rate-limit counter for <see cref="FallbackStore.CheckCountersAsync"/>: fixed window of <paramref name="WindowMs"/>;
/// <paramref name="CounterId"/> is <see cref="GrainKeys.RedisFallbackCounterId"/> (key and rule).
/// </summary>
public sealed record FallbackCounter(string CounterId, long Limit, long WindowMs, long Cost, bool Shadow);

/// <summary>The fallback's answer for one counter.</summary>
public sealed record FallbackCounterResult(long Count, long ResetAfterMs);

/// <summary>A token reservation decided by the fallback.</summary>
public sealed record FallbackReserveResult(bool Granted, string? ReservationId, long Remaining);

/// <summary>A token commit applied by the fallback; <paramref name="Found"/> false for an unknown reservation.</summary>
public sealed record FallbackCommitResult(bool Found, long Returned, long Charged, long Remaining);

/// <summary>
/// The Redis atomic-counter fallback: one Lua script per decision, each atomic on the Redis primary, so limits
/// hold exactly across every gateway that uses it. Keys are <c>{prefix}fb:{kind}:{id}</c> and always carry an
/// expiry; time is Redis's own clock (<c>TIME</c>), so gateways with skewed clocks agree on windows.
/// Every call goes through the Redis guard (timeout and breaker).
/// </summary>
public sealed class FallbackStore(IConnectionMultiplexer redis, IOptions<CoordinatorRedisOptions> options, IOptions<CoordinatorClusterOptions> cluster, ResilienceState state)
{
    private const string Now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """;

    // KEYS[1] lease zset (member "leaseId|instanceId|acquiredMs", score = expiry), KEYS[2] the user lease grain's
    // state hash (its leases and limit override count too); ARGV limit, ttlMs, leaseId, instanceId, a new etag.
    // Returns {granted, active, expiry (or the earliest expiry when refused), limit}.
    // A grant fences the grain: it gives the grain's state a new etag (creating an empty state when there is none),
    // so a grain decision under way that did not count this lease fails its ETag-checked write, reloads, counts the
    // fallback's leases again and decides anew. The grain and the fallback together never grant past the limit.
    private const string AcquireScript = Now + """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local limit = tonumber(ARGV[1])
        local active = redis.call('ZCARD', KEYS[1])
        local earliest = 0
        local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        if first[2] then earliest = tonumber(first[2]) end
        local data = redis.call('HGET', KEYS[2], 'data')
        if data then
          local grain = cjson.decode(data)
          if type(grain.maxConnections) == 'number' then limit = grain.maxConnections end
          if type(grain.leases) == 'table' then
            for _, lease in ipairs(grain.leases) do
              local expires = tonumber(lease.expiresAtMs) or 0
              if expires > now then
                active = active + 1
                if earliest == 0 or expires < earliest then earliest = expires end
              end
            end
          end
        end
        if active >= limit then return {0, active, earliest, limit} end
        local expires = now + tonumber(ARGV[2])
        redis.call('ZADD', KEYS[1], expires, ARGV[3] .. '|' .. ARGV[4] .. '|' .. string.format('%.0f', now))
        local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
        if data then
          redis.call('HSET', KEYS[2], 'etag', ARGV[5])
        else
          redis.call('HSET', KEYS[2], 'etag', ARGV[5], 'data', '{"maxConnections":null,"leases":[]}')
        end
        return {1, active + 1, expires, limit}
        """;

    // KEYS[1] lease zset; ARGV leaseId, ttlMs (0 = release). Returns the new expiry, 0 when not found (or released).
    private const string RenewOrReleaseScript = Now + """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local members = redis.call('ZRANGE', KEYS[1], 0, -1)
        local prefix = ARGV[1] .. '|'
        for _, m in ipairs(members) do
          if string.sub(m, 1, string.len(prefix)) == prefix then
            local ttl = tonumber(ARGV[2])
            if ttl == 0 then
              redis.call('ZREM', KEYS[1], m)
              return 1
            end
            redis.call('ZADD', KEYS[1], now + ttl, m)
            local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
            redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
            return now + ttl
          end
        end
        return 0
        """;

    // KEYS[1] hash {s = window start, u = bytes charged by the fallback}, KEYS[2] the user byte budget grain's state
    // hash (camelCase JSON in 'data': byteBudget, budgetWindowMs, windowStartMs, used); ARGV default budget, default
    // windowMs, bytes. Every gateway reads the same two hashes, so all agree on the budget and the window: the grain's
    // overrides apply, its window (or the next one aligned on it) is the window, and what the grain last flushed
    // counts beside what the fallback charged. Without a grain window, the fallback's own opens at the first charge.
    // Returns {allowed, used, budget, window end}.
    private const string BytesScript = Now + """
        local budget, window = tonumber(ARGV[1]), tonumber(ARGV[2])
        local gstart, gused = 0, 0
        local data = redis.call('HGET', KEYS[2], 'data')
        if data then
          local grain = cjson.decode(data)
          if type(grain.byteBudget) == 'number' then budget = grain.byteBudget end
          if type(grain.budgetWindowMs) == 'number' then window = grain.budgetWindowMs end
          if type(grain.windowStartMs) == 'number' then gstart = grain.windowStartMs end
          if type(grain.used) == 'number' then gused = grain.used end
        end
        local fstart = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
        local start
        if gstart > 0 then
          start = gstart
          if now >= gstart + window then start = gstart + math.floor((now - gstart) / window) * window end
          if gstart ~= start then gused = 0 end
        elseif fstart > 0 and now < fstart + window then
          start = fstart
        else
          start = now
        end
        local used = 0
        if fstart == start then used = tonumber(redis.call('HGET', KEYS[1], 'u') or '0') end
        local bytes = tonumber(ARGV[3])
        if gused + used + bytes > budget then return {0, gused + used, budget, start + window} end
        used = used + bytes
        redis.call('HSET', KEYS[1], 's', string.format('%.0f', start), 'u', string.format('%.0f', used))
        redis.call('PEXPIREAT', KEYS[1], start + window)
        return {1, gused + used, budget, start + window}
        """;

    // KEYS = counters, hash {s = window start, c = count}; ARGV per key: limit, windowMs, cost, shadow (0/1).
    // All or nothing: when any non-shadow counter would pass its limit, nothing is charged.
    // Returns {allowed, then per key: count, ms until the window ends, window start}.
    private const string CountersScript = Now + """
        local starts, counts = {}, {}
        local allowed = 1
        for i = 1, #KEYS do
          local b = (i - 1) * 4
          local window = tonumber(ARGV[b + 2])
          local start = now - (now % window)
          local count = 0
          if tonumber(redis.call('HGET', KEYS[i], 's') or '-1') == start then count = tonumber(redis.call('HGET', KEYS[i], 'c') or '0') end
          starts[i], counts[i] = start, count
          if ARGV[b + 4] ~= '1' and count + tonumber(ARGV[b + 3]) > tonumber(ARGV[b + 1]) then allowed = 0 end
        end
        local out = {allowed}
        for i = 1, #KEYS do
          local b = (i - 1) * 4
          local window = tonumber(ARGV[b + 2])
          if allowed == 1 then
            counts[i] = counts[i] + tonumber(ARGV[b + 3])
            redis.call('HSET', KEYS[i], 's', string.format('%.0f', starts[i]), 'c', string.format('%.0f', counts[i]))
            redis.call('PEXPIREAT', KEYS[i], starts[i] + window)
          end
          out[#out + 1] = counts[i]
          out[#out + 1] = starts[i] + window - now
          out[#out + 1] = starts[i]
        end
        return out
        """;

    // KEYS = counters a CountersScript call charged; ARGV per key: the window start it charged, cost. Takes the charge
    // back from each counter still in that window (never below 0). For a batch over several Redis Cluster hash slots.
    private const string RefundScript = """
        for i = 1, #KEYS do
          local b = (i - 1) * 2
          if redis.call('HGET', KEYS[i], 's') == ARGV[b + 1] then
            local c = tonumber(redis.call('HGET', KEYS[i], 'c') or '0') - tonumber(ARGV[b + 2])
            redis.call('HSET', KEYS[i], 'c', string.format('%.0f', math.max(0, c)))
          end
        end
        return 0
        """;

    // KEYS[1] hash {p = period end, c = charged, r:<id> = reserved}; ARGV budget, tokens, periodEndMs, reservationId.
    private const string ReserveScript = """
        if redis.call('HGET', KEYS[1], 'p') ~= ARGV[3] then
          redis.call('DEL', KEYS[1])
          redis.call('HSET', KEYS[1], 'p', ARGV[3], 'c', 0)
        end
        local charged = tonumber(redis.call('HGET', KEYS[1], 'c'))
        local budget, tokens = tonumber(ARGV[1]), tonumber(ARGV[2])
        if charged + tokens > budget then return {0, budget - charged} end
        redis.call('HINCRBY', KEYS[1], 'c', tokens)
        redis.call('HSET', KEYS[1], 'r:' .. ARGV[4], tokens)
        redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[3]) + 86400000)
        return {1, budget - charged - tokens}
        """;

    // KEYS[1] token hash; ARGV reservationId, actual, budget. Returns {found, returned, charged, remaining}.
    private const string CommitScript = """
        local reserved = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
        if not reserved then return {0, 0, 0, 0} end
        reserved = tonumber(reserved)
        local actual = tonumber(ARGV[2])
        redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])
        local charged = redis.call('HINCRBY', KEYS[1], 'c', actual - reserved)
        return {1, math.max(0, reserved - actual), charged, tonumber(ARGV[3]) - charged}
        """;

    private readonly string _prefix = options.Value.KeyPrefix;

    /// <summary>
    /// Takes a fallback lease if the user holds fewer than its limit, counting the leases in the user's grain state
    /// (acknowledged grain leases are always persisted) and using its limit override when it has one, else
    /// <paramref name="limit"/>.
    /// </summary>
    public async Task<FallbackLeaseResult> AcquireLeaseAsync(string user, int limit, long ttlMs, string instanceId)
    {
        var leaseId = GrainKeys.NewFallbackId();
        var key = LeaseKey(user);
        RedisKey grainState = GrainKeys.RedisUserLeaseStateKey(_prefix, cluster.Value.ServiceId, user);
        Task<RedisResult>? sent = null;
        RedisResult[] r;
        try
        {
            r = (RedisResult[])(await state.Redis.RunAsync(() => sent = redis.GetDatabase().ScriptEvaluateAsync(AcquireScript, [key, grainState], [limit, ttlMs, leaseId, instanceId, "fb" + GrainKeys.NewOpaqueId()])))!;
        }
        catch (DependencyDownException) when (sent is not null)
        {
            // Answered as failed: if the script still runs (Redis was slow, not gone), take the lease back.
            _ = ReleaseIfGrantedLateAsync(key, leaseId, sent);
            throw;
        }

        return new FallbackLeaseResult((long)r[0] == 1, (long)r[0] == 1 ? leaseId : null, (int)r[1], (long)r[2], (int)r[3]);
    }

    private async Task ReleaseIfGrantedLateAsync(RedisKey key, string leaseId, Task<RedisResult> sent)
    {
        try
        {
            if ((long)((RedisResult[])(await sent)!)[0] == 1)
            {
                await redis.GetDatabase().ScriptEvaluateAsync(RenewOrReleaseScript, [key], [leaseId, 0]);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Not run, or the release failed: the lease then ends at its ttl.
        }
    }

    /// <summary>Extends a fallback lease; the new expiry, or 0 when it is unknown or expired.</summary>
    public async Task<long> RenewLeaseAsync(string user, string leaseId, long ttlMs)
        => (long)await EvalAsync(RenewOrReleaseScript, [LeaseKey(user)], [leaseId, ttlMs]);

    /// <summary>Releases a fallback lease; false when it was not held.</summary>
    public async Task<bool> ReleaseLeaseAsync(string user, string leaseId)
        => (long)await EvalAsync(RenewOrReleaseScript, [LeaseKey(user)], [leaseId, 0]) == 1;

    /// <summary>The user's live fallback leases.</summary>
    public Task<IReadOnlyList<LeaseInfo>> ListLeasesAsync(string user) => state.Redis.RunAsync<IReadOnlyList<LeaseInfo>>(async () =>
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var entries = await redis.GetDatabase().SortedSetRangeByScoreWithScoresAsync(LeaseKey(user), now, double.PositiveInfinity);
        return [.. entries.Select(e => FallbackLeaseMembers.Parse(e.Element.ToString(), (long)e.Score)).OfType<LeaseInfo>()];
    });

    /// <summary>
    /// Charges bytes against the user's window: the byte budget grain's persisted window, budget and usage when it has
    /// them (so every gateway agrees), else <paramref name="budget"/> and <paramref name="windowMs"/> over a window that
    /// opens at the first charge.
    /// </summary>
    public async Task<FallbackBytesResult> ConsumeBytesAsync(string user, long budget, long windowMs, long bytes)
    {
        RedisKey grainState = GrainKeys.RedisUserByteBudgetStateKey(_prefix, cluster.Value.ServiceId, user);
        var r = await EvalArrayAsync(BytesScript, [GrainKeys.RedisFallbackBytesKey(_prefix, cluster.Value.ServiceId, user, redis.IsRedisCluster()), grainState], [budget, windowMs, bytes]);
        return new FallbackBytesResult((long)r[0] == 1, (long)r[1], (long)r[2], (long)r[3]);
    }

    /// <summary>
    /// Charges every counter, or none when one non-shadow counter would pass its limit. Counters of one tenant share a
    /// Redis Cluster hash slot (<see cref="GrainKeys.RedisFallbackCounterKey"/>) and one script charges them atomically.
    /// On a Redis Cluster, a batch over tenants in several slots runs one script per slot; when any of them refuses, the
    /// slots that charged are refunded (<see cref="RefundScript"/>), so the batch is still all or none. Between the charge
    /// and the refund another request may see the higher count and be refused: never more admitted than a limit allows.
    /// A slot that refuses decides the batch even when another slot did not answer; when none refused and one did not
    /// answer, the charged slots are refunded and <see cref="DependencyDownException"/> is thrown.
    /// </summary>
    public async Task<(bool Allowed, IReadOnlyList<FallbackCounterResult> Results)> CheckCountersAsync(IReadOnlyList<FallbackCounter> counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        var clustered = redis.IsRedisCluster();
        var keys = counters.Select(c => (RedisKey)GrainKeys.RedisFallbackCounterKey(_prefix, c.CounterId, clustered)).ToArray();
        var groups = clustered
            ? [.. Enumerable.Range(0, counters.Count).GroupBy(i => redis.HashSlot(keys[i])).Select(g => g.ToArray())]
            : new[] { Enumerable.Range(0, counters.Count).ToArray() };
        var calls = groups.Select(g => EvalArrayAsync(
            CountersScript, [.. g.Select(i => keys[i])], [.. g.SelectMany(i => new RedisValue[] { counters[i].Limit, counters[i].WindowMs, counters[i].Cost, counters[i].Shadow ? 1 : 0 })])).ToArray();
        try
        {
            await Task.WhenAll(calls);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Judged below, slot by slot: a slot that refused decides the batch even when another slot did not answer.
        }

        var refused = calls.Any(c => c.IsCompletedSuccessfully && (long)c.Result[0] == 0);
        var failed = calls.FirstOrDefault(c => !c.IsCompletedSuccessfully);
        var results = new FallbackCounterResult[counters.Count];
        var refunds = new List<Task>();
        for (var g = 0; g < groups.Length; g++)
        {
            if (!calls[g].IsCompletedSuccessfully)
            {
                foreach (var i in groups[g])
                {
                    results[i] = new FallbackCounterResult(counters[i].Limit, 0); // not known (that slot did not answer): nothing reported left
                }

                continue;
            }

            var answer = calls[g].Result;
            var refund = (refused || failed is not null) && (long)answer[0] == 1;
            for (var j = 0; j < groups[g].Length; j++)
            {
                var i = groups[g][j];
                var count = (long)answer[1 + (3 * j)];
                results[i] = new FallbackCounterResult(refund ? count - counters[i].Cost : count, (long)answer[2 + (3 * j)]);
            }

            if (refund)
            {
                refunds.Add(RefundAsync([.. groups[g].Select(i => keys[i])], [.. groups[g].SelectMany((i, j) => new RedisValue[] { (long)answer[3 + (3 * j)], counters[i].Cost })]));
            }
        }

        await Task.WhenAll(refunds);
        if (failed is not null && !refused)
        {
            await failed; // no slot refused and one did not answer: the batch cannot be decided (an outage)
        }

        return (!refused, results);
    }

    /// <summary>
    /// Takes back a slot's charge, best effort: a refund that fails leaves the charge until its window ends (more refused,
    /// never more admitted).
    /// </summary>
    private async Task RefundAsync(RedisKey[] keys, RedisValue[] args)
    {
        try
        {
            await EvalAsync(RefundScript, keys, args);
        }
        catch (Exception ex) when (ex is DependencyDownException or RedisException or TimeoutException)
        {
            // See above: the window's end clears it.
        }
    }

    /// <summary>Reserves tokens against <paramref name="budget"/> for the period ending at <paramref name="periodEndMs"/>.</summary>
    public async Task<FallbackReserveResult> ReserveTokensAsync(string tenant, long budget, long tokens, long periodEndMs)
    {
        var id = GrainKeys.NewFallbackId();
        var r = await EvalArrayAsync(ReserveScript, [Key("tokens", tenant)], [budget, tokens, periodEndMs, id]);
        return (long)r[0] == 1 ? new FallbackReserveResult(true, id, (long)r[1]) : new FallbackReserveResult(false, null, (long)r[1]);
    }

    /// <summary>Commits a fallback reservation: what was not used returns to the fallback budget.</summary>
    public async Task<FallbackCommitResult> CommitTokensAsync(string tenant, string reservationId, long actual, long budget)
    {
        var r = await EvalArrayAsync(CommitScript, [Key("tokens", tenant)], [reservationId, actual, budget]);
        return new FallbackCommitResult((long)r[0] == 1, (long)r[1], (long)r[2], (long)r[3]);
    }

    /// <summary>Reads a route mapping's stored destination straight from Redis; null when there is none.</summary>
    public Task<string?> ReadRouteAsync(string identifierKey) => state.Redis.RunAsync(async () =>
    {
        var value = await redis.GetDatabase().StringGetAsync(GrainKeys.RedisRouteKey(_prefix, identifierKey));
        return value.IsNullOrEmpty ? null : value.ToString();
    });

    /// <summary>Loads every script into Redis's script cache and exercises the lease script once with limit 0 (writes nothing).</summary>
    public async Task LoadScriptsAsync()
    {
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            foreach (var script in new[] { AcquireScript, RenewOrReleaseScript, BytesScript, CountersScript, RefundScript, ReserveScript, CommitScript })
            {
                await server.ScriptLoadAsync(script);
            }
        }

        await AcquireLeaseAsync("coordinator-warmup", 0, Grains.Interfaces.Leases.LeaseLimits.MinTtlMs, "warmup");
    }

    private Task<RedisResult> EvalAsync(string script, RedisKey[] keys, RedisValue[] args)
        => state.Redis.RunAsync(() => redis.GetDatabase().ScriptEvaluateAsync(script, keys, args));

    private async Task<RedisResult[]> EvalArrayAsync(string script, RedisKey[] keys, RedisValue[] args)
        => (RedisResult[])(await EvalAsync(script, keys, args))!;

    private string Key(string kind, string id) => GrainKeys.RedisFallbackKey(_prefix, kind, id);

    private string LeaseKey(string user) => GrainKeys.RedisFallbackLeaseKey(_prefix, cluster.Value.ServiceId, user, redis.IsRedisCluster());
}
