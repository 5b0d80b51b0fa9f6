namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>
/// The <c>Redis</c> configuration section. A connection string switches a process to cluster mode:
/// Redis membership, Redis grain storage and Redis route mappings.
/// </summary>
public sealed class CoordinatorRedisOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Redis";

    /// <summary>The default key prefix.</summary>
    public const string DefaultKeyPrefix = "coordinator:";

    /// <summary>
    /// A StackExchange.Redis configuration string (<c>host:6379,password=...,ssl=true</c>) or a
    /// <c>redis://[user:password@]host[:port][/db]</c> / <c>rediss://</c> URL. Empty means embedded mode.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>Prefix of every Redis key this deployment writes (membership, grain state, route mappings).</summary>
    public string KeyPrefix { get; set; } = DefaultKeyPrefix;

    /// <summary>A PEM file with the CA that signed Redis's TLS certificate, when it is not in the system store.</summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>The <c>peer.service</c> of Redis spans in traces.</summary>
    public string ServiceName { get; set; } = "redis";

    /// <summary>True when a connection string is configured.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(ConnectionString);

    /// <summary>
    /// Silos add <c>K$g</c> to Redis's <c>notify-keyspace-events</c> at start when it lacks them (through <c>CONFIG SET</c>,
    /// when Redis allows it), so routes written with <c>redis-cli SET/DEL</c> are seen at once. False: leave the server's
    /// setting alone (set it in redis.conf; without it such changes are seen within <c>Mappings:CacheTtl</c>).
    /// </summary>
    public bool ConfigureKeyspaceEvents { get; set; } = true;

    /// <summary>Describes every problem with these options; empty when they are usable.</summary>
    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrEmpty(KeyPrefix))
        {
            yield return "Redis:KeyPrefix must not be empty (default 'coordinator:').";
        }
        else if (KeyPrefix.Length > 64 || KeyPrefix.Any(char.IsWhiteSpace))
        {
            yield return "Redis:KeyPrefix must be at most 64 characters without white space.";
        }
        else if (KeyPrefix.AsSpan().IndexOfAny('{', '}') >= 0 && !GrainKeys.HasRedisHashTag(KeyPrefix))
        {
            yield return "Redis:KeyPrefix has a brace that is not part of a Redis Cluster hash tag: use none, or a whole tag such as '{coordinator}:' (every key then shares one slot).";
        }

        if (IsConfigured && !RedisConnectionString.TryNormalize(ConnectionString!, out _, out var error))
        {
            yield return $"Redis:ConnectionString is not valid: {error}";
        }

        if (!string.IsNullOrEmpty(CaCertificatePath) && !File.Exists(CaCertificatePath))
        {
            yield return $"Redis:CaCertificatePath '{CaCertificatePath}' does not exist.";
        }
    }
}
