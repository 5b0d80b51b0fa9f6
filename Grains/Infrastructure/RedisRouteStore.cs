using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using StackExchange.Redis;

namespace Orleans.Coordinator.Grains.Infrastructure;

/// <summary>
/// Route mappings as plain Redis strings at <c>{prefix}route:{identifier}</c>, so operators can still
/// <c>redis-cli SET</c> and <c>DEL</c> them. Writes are acknowledged once Redis has them.
/// </summary>
public sealed partial class RedisRouteStore(CoordinatorRedis redis, IOptions<CoordinatorRedisOptions> options, ILogger<RedisRouteStore> logger) : IRouteStore
{
    private readonly string _prefix = options.Value.KeyPrefix;
    private readonly RedisChannel _changes = RedisChannel.Literal(GrainKeys.RedisRouteChangesChannel(options.Value.KeyPrefix));

    /// <inheritdoc/>
    public Task<string?> GetAsync(string identifierKey)
        => redis.RunAsync("GET", async db =>
        {
            var value = await db.StringGetAsync(Key(identifierKey));
            return value.IsNullOrEmpty ? null : value.ToString();
        });

    /// <inheritdoc/>
    public Task SetAsync(string identifierKey, string destination)
        => redis.RunAsync("SET", db => db.StringSetAsync(Key(identifierKey), destination));

    /// <inheritdoc/>
    public Task DeleteAsync(string identifierKey)
        => redis.RunAsync("DEL", db => db.KeyDeleteAsync(Key(identifierKey)));

    /// <inheritdoc/>
    public async Task AnnounceChangeAsync(string identifierKey)
    {
        try
        {
            await (await redis.GetAsync()).GetSubscriber().PublishAsync(_changes, identifierKey);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or CoordinatorUnavailableException)
        {
            LogAnnounceFailed(logger, ex.GetType().Name);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A route change could not be announced to the gateways ({Error}); their copies expire within Mappings:GatewayCacheTtl.")]
    private static partial void LogAnnounceFailed(ILogger logger, string error);

    private RedisKey Key(string identifierKey) => GrainKeys.RedisRouteKey(_prefix, identifierKey);
}
