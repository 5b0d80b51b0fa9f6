using System.Diagnostics.CodeAnalysis;

namespace Orleans.Coordinator.Grains.Interfaces;

/// <summary>How route-mapping identifiers are normalised before they become grain and Redis keys.</summary>
public enum IdentifierNormalization
{
    /// <summary>Trim and lower-case (invariant culture). <c>Alice@Example.COM</c> and <c>alice@example.com</c> share one mapping.</summary>
    LowerCase = 0,

    /// <summary>Trim only; identifiers are case-sensitive.</summary>
    None = 1,
}

/// <summary>
/// The one place that builds, validates and normalises grain keys and the Redis keys derived from them.
/// Every caller (gateway, internal service, test) goes through here so that one identifier always names one grain.
/// </summary>
public static class GrainKeys
{
    /// <summary>Longest accepted user name.</summary>
    public const int MaxUserLength = 128;

    /// <summary>Longest accepted route-mapping identifier.</summary>
    public const int MaxIdentifierLength = 256;

    /// <summary>Longest accepted instance id.</summary>
    public const int MaxInstanceIdLength = 128;

    /// <summary>Longest accepted lease id.</summary>
    public const int MaxLeaseIdLength = 64;

    /// <summary>Longest accepted tenant id.</summary>
    public const int MaxTenantLength = 64;

    /// <summary>Longest accepted policy name.</summary>
    public const int MaxPolicyLength = 64;

    /// <summary>Longest accepted rate-limit key.</summary>
    public const int MaxRateLimitKeyLength = 256;

    /// <summary>Longest accepted route destination.</summary>
    public const int MaxDestinationLength = 256;

    /// <summary>The punctuation allowed in keys besides ASCII letters and digits.</summary>
    public const string AllowedPunctuation = "._-@+=:~!";

    /// <summary>A human-readable description of the key character set, for error messages and docs.</summary>
    public const string CharacterSetDescription = "ASCII letters, digits and . _ - @ + = : ~ !";

    /// <summary>Validates a user name (case-sensitive, not trimmed) and returns it as the user grain key.</summary>
    public static bool TryUser(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryKey(raw, "user", MaxUserLength, out key, out error);

    /// <summary>Validates an instance id (case-sensitive).</summary>
    public static bool TryInstanceId(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryKey(raw, "instanceId", MaxInstanceIdLength, out key, out error);

    /// <summary>Validates a lease id.</summary>
    public static bool TryLeaseId(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryKey(raw, "leaseId", MaxLeaseIdLength, out key, out error);

    /// <summary>Validates a tenant id (case-sensitive).</summary>
    public static bool TryTenant(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryKey(raw, "tenant", MaxTenantLength, out key, out error);

    /// <summary>Validates a policy name (case-sensitive).</summary>
    public static bool TryPolicy(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryKey(raw, "policy", MaxPolicyLength, out key, out error);

    /// <summary>Validates a rate-limit key: 1 to 256 printable ASCII characters without white space (paths and addresses fit).</summary>
    public static bool TryRateLimitKey(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryPrintable(raw, "key", MaxRateLimitKeyLength, out key, out error);

    /// <summary>Validates a lock name: 1 to 256 printable ASCII characters without white space (e.g. <c>provision:alice</c>).</summary>
    public static bool TryLockName(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryPrintable(raw, "name", MaxRateLimitKeyLength, out key, out error);

    /// <summary>Validates a response-cache namespace name (case-sensitive, 1 to 64 key characters, e.g. <c>gpt-4o</c>).</summary>
    public static bool TryCacheNamespace(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryKey(raw, "namespace", Caching.ResponseCacheLimits.MaxNamespaceLength, out key, out error);

    /// <summary>Validates a response-cache entry key: 1 to 256 printable ASCII characters without white space (e.g. <c>sha256:9f86d0...</c>).</summary>
    public static bool TryCacheKey(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryPrintable(raw, "key", Caching.ResponseCacheLimits.MaxKeyLength, out key, out error);

    /// <summary>
    /// The grain key of a tenant's response-cache namespace: <c>{tenant}/{namespace}</c>, both parts escaped
    /// (<see cref="EscapeKeyPart"/>), so the slash is always the separator and two (tenant, namespace) pairs never share one.
    /// </summary>
    public static string ResponseCacheNamespace(string tenant, string @namespace)
        => $"{EscapeKeyPart(tenant)}/{EscapeKeyPart(@namespace)}";

    /// <summary>The grain key of one approval: <c>{tenant}/{approvalId}</c>, both parts escaped (<see cref="EscapeKeyPart"/>).</summary>
    public static string Approval(string tenant, string approvalId) => $"{EscapeKeyPart(tenant)}/{EscapeKeyPart(approvalId)}";

    /// <summary>The grain key of a webhook: <c>{tenant}/{webhookId}</c>, both parts escaped.</summary>
    public static string Webhook(string tenant, string webhookId) => $"{EscapeKeyPart(tenant)}/{EscapeKeyPart(webhookId)}";

    /// <summary>Validates a webhook id or delivery id from a path: 1 to 64 key characters.</summary>
    public static bool TryWebhookPart(string? raw, string field, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryKey(raw, field, 64, out key, out error);

    /// <summary>Validates a client-chosen A2A task or context id: 1 to 128 key characters.</summary>
    public static bool TryAgentId(string? raw, string field, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryKey(raw, field, 128, out key, out error);

    /// <summary>The grain key of an A2A task: <c>{tenant}/{taskId}</c>, both parts escaped.</summary>
    public static string AgentTask(string tenant, string taskId) => $"{EscapeKeyPart(tenant)}/{EscapeKeyPart(taskId)}";

    /// <summary>The grain key of an A2A context: <c>{tenant}/{contextId}</c>, both parts escaped.</summary>
    public static string AgentContext(string tenant, string contextId) => $"{EscapeKeyPart(tenant)}/{EscapeKeyPart(contextId)}";

    /// <summary>Validates a tenant document name (case-sensitive, 1 to 64 key characters, e.g. <c>agent-policy</c>).</summary>
    public static bool TryDocumentName(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryKey(raw, "name", MaxPolicyLength, out key, out error);

    /// <summary>The grain key of a tenant document: <c>{tenant}/{name}</c>, both parts escaped.</summary>
    public static string TenantDocument(string tenant, string name) => $"{EscapeKeyPart(tenant)}/{EscapeKeyPart(name)}";

    private const string DocumentChangePrefix = "#doc\n";

    /// <summary>The announcement that a tenant document changed, on <see cref="RedisRouteChangesChannel"/>: <c>#doc\n{document grain key}</c>.</summary>
    public static string DocumentChange(string grainKey) => DocumentChangePrefix + grainKey;

    /// <summary>Reads a <see cref="DocumentChange"/> announcement; false for anything else.</summary>
    public static bool TryParseDocumentChange(string message, [NotNullWhen(true)] out string? grainKey)
    {
        ArgumentNullException.ThrowIfNull(message);
        grainKey = message.StartsWith(DocumentChangePrefix, StringComparison.Ordinal) ? message[DocumentChangePrefix.Length..] : null;
        return grainKey is not null;
    }

    private const string TenantChangePrefix = "#tenant\n";

    /// <summary>
    /// The announcement that a tenant's policy (or, with <paramref name="policy"/> null, its configuration document)
    /// changed, on <see cref="RedisRouteChangesChannel"/>, so every gateway drops its copy: <c>#tenant\n{tenant}\n{policy}</c>.
    /// Neither part holds a line break (their character sets exclude it).
    /// </summary>
    public static string TenantChange(string tenant, string? policy) => $"{TenantChangePrefix}{tenant}\n{policy}";

    /// <summary>Reads a <see cref="TenantChange"/> announcement (<paramref name="policy"/> null: the configuration document); false for anything else.</summary>
    public static bool TryParseTenantChange(string message, [NotNullWhen(true)] out string? tenant, out string? policy)
    {
        ArgumentNullException.ThrowIfNull(message);
        (tenant, policy) = (null, null);
        if (!message.StartsWith(TenantChangePrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = message[TenantChangePrefix.Length..];
        var split = rest.IndexOf('\n', StringComparison.Ordinal);
        if (split < 0)
        {
            return false;
        }

        tenant = rest[..split];
        policy = split == rest.Length - 1 ? null : rest[(split + 1)..];
        return true;
    }

    private const string ResponseCacheChangePrefix = "#cache\n";

    /// <summary>
    /// The announcement that a response-cache entry (or, with <paramref name="key"/> null, a whole namespace) changed,
    /// sent on <see cref="RedisRouteChangesChannel"/> so gateways drop their copies: <c>#cache\n{namespace grain key}\n{key}</c>.
    /// Route announcements are identifier keys, which never start with <c>#</c>; neither part holds a line break.
    /// </summary>
    public static string ResponseCacheChange(string grainKey, string? key) => $"{ResponseCacheChangePrefix}{grainKey}\n{key}";

    /// <summary>Reads a <see cref="ResponseCacheChange"/> announcement; false for anything else (a route announcement).</summary>
    public static bool TryParseResponseCacheChange(string message, [NotNullWhen(true)] out string? grainKey, out string? key)
    {
        ArgumentNullException.ThrowIfNull(message);
        grainKey = null;
        key = null;
        if (!message.StartsWith(ResponseCacheChangePrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = message.AsSpan(ResponseCacheChangePrefix.Length);
        var split = rest.IndexOf('\n');
        if (split < 0)
        {
            return false;
        }

        grainKey = rest[..split].ToString();
        key = split == rest.Length - 1 ? null : rest[(split + 1)..].ToString();
        return true;
    }

    /// <summary>Longest accepted session subject.</summary>
    public const int MaxSubjectLength = 256;

    /// <summary>Validates a session subject: 1 to 256 printable ASCII characters without white space.</summary>
    public static bool TrySubject(string? raw, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryPrintable(raw, "subject", MaxSubjectLength, out key, out error);

    /// <summary>Validates an opaque id this service generated: 32 lower-case hex characters (128 bits).</summary>
    public static bool TryOpaqueId(string? raw, string field, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
    {
        key = null;
        if (raw is not { Length: 32 } || !raw.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            error = $"{field} must be an id this service returned (32 hex characters).";
            return false;
        }

        (key, error) = (raw, null);
        return true;
    }

    /// <summary>A new random 128-bit id as 32 lower-case hex characters.</summary>
    public static string NewOpaqueId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));

    /// <summary>
    /// The replay-guard grain key of a token: SHA-256 (hex) of issuer and jti, so raw jti values never appear in
    /// grain ids, logs or Redis keys. The hashed text is unambiguous: <c>{issuer}\n{jti}</c> when the issuer is
    /// non-empty and holds no line feed (the first line feed then ends the issuer; keys of earlier versions stay
    /// valid), else <c>\n{issuer length}:{issuer}{jti}</c>, which starts with a line feed and so never equals the
    /// first form. Two different (issuer, jti) pairs never share a key (short of a SHA-256 collision).
    /// </summary>
    public static string Jti(string issuer, string jti)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(jti);
        var text = issuer.Length > 0 && !issuer.Contains('\n', StringComparison.Ordinal)
            ? $"{issuer}\n{jti}"
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"\n{issuer.Length}:{issuer}{jti}");
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>The Redis key that records a seen token: <c>{prefix}jti:{hash}</c>, expiring with the token.</summary>
    public static string RedisJtiKey(string keyPrefix, string jtiHash) => $"{keyPrefix}jti:{jtiHash}";

    /// <summary>
    /// The key of the counter for one tenant policy and key: <c>{tenant}/{policy}/{key}</c>, each part escaped
    /// (<see cref="EscapeKeyPart"/>), so the two separators are always the first two slashes and a tenant part never
    /// starts with <c>#</c>: two different (tenant, policy, key) triples never share a key. Valid tenant and policy
    /// names (<see cref="TryTenant"/>, <see cref="TryPolicy"/>) only change where they hold <c>=</c>.
    /// The counter's identity also includes its rule (<see cref="RateLimitRuleTag"/>): the shard keeps one counter
    /// per key and rule.
    /// </summary>
    public static string RateLimitCounter(string tenant, string policy, string key)
        => $"{EscapeKeyPart(tenant)}/{EscapeKeyPart(policy)}/{EscapeKeyPart(key)}";

    /// <summary>
    /// How many <see cref="Tenants.IRateLimitShardGrain"/> own the rate-limit counters. Part of the key scheme: every
    /// client, gateway and silo of a deployment must agree, and a shard refuses a counter that is not its own
    /// (so a mismatch fails loudly instead of counting one key in two places). Changing it is a new deployment.
    /// Few shards make big batches (64 callers in flight give about 16 decisions per call: 4 shards measured about
    /// 25% faster than 8); one shard decides several hundred thousand per second, far more than a gateway sends,
    /// and the rate-limit work of a cluster lands on at most 4 silos (docs/performance.md).
    /// </summary>
    public const int RateLimitShardCount = 4;

    /// <summary>
    /// The shard (0 .. <see cref="RateLimitShardCount"/> - 1) that owns the counter <paramref name="counterKey"/>:
    /// FNV-1a over its UTF-16 code units, the same in every process and .NET version.
    /// </summary>
    public static int RateLimitShard(string counterKey)
    {
        ArgumentNullException.ThrowIfNull(counterKey);
        var hash = 2166136261u;
        foreach (var c in counterKey)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % RateLimitShardCount);
    }

    /// <summary>
    /// The key of the counter of an Envoy rate-limit descriptor: <c>#rls/{domain}/{k=v|k=v}</c>, every domain, entry
    /// key and entry value escaped (<see cref="EscapeKeyPart"/>), so <c>/</c>, <c>=</c> and <c>|</c> are only ever
    /// separators: two different (domain, entries) never share a key. The <c>#</c> cannot start an escaped tenant,
    /// so these never collide with tenant counters.
    /// </summary>
    /// <remarks>
    /// An entry with a pattern in <paramref name="sharedPatterns"/> (envoyproxy/ratelimit's <c>share_threshold</c>) is
    /// written <c>k==pattern</c> in place of its value, so every value the pattern matches counts on one counter. An
    /// escaped value never starts with <c>=</c>, so a shared entry never meets an ordinary one.
    /// </remarks>
    public static string EnvoyCounter(string domain, IEnumerable<(string Key, string Value)> entries, IReadOnlyList<string?>? sharedPatterns = null)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var builder = new System.Text.StringBuilder("#rls/").Append(EscapeKeyPart(domain)).Append('/');
        var i = 0;
        foreach (var (key, value) in entries)
        {
            if (i > 0)
            {
                builder.Append('|');
            }

            builder.Append(EscapeKeyPart(key)).Append('=');
            if (sharedPatterns?[i] is { } pattern)
            {
                builder.Append('=').Append(EscapeKeyPart(pattern));
            }
            else
            {
                builder.Append(EscapeKeyPart(value));
            }

            i++;
        }

        return builder.ToString();
    }

    /// <summary>
    /// What defines a rate-limit counter besides its key: the algorithm, the limit and the window (or refill rate),
    /// e.g. <c>fw:10:60000</c>, <c>sw:100:1000</c>, <c>tb:50:2.5</c>. Never holds <c>/</c>. Two checks of one key
    /// under different rules (an Envoy override beside the configured rule, a changed policy) count on different
    /// counters, so no request can restart, shrink or share the counter of another rule. The shadow flag is not
    /// part of it: turning shadow mode on or off keeps the counts.
    /// </summary>
    public static string RateLimitRuleTag(Tenants.RateLimitPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Algorithm switch
        {
            Tenants.RateLimitAlgorithm.TokenBucket => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"tb:{policy.Limit}:{policy.RefillPerSecond:R}"),
            Tenants.RateLimitAlgorithm.SlidingWindow => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"sw:{policy.Limit}:{policy.WindowMs}"),
            _ => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"fw:{policy.Limit}:{policy.WindowMs}"),
        };
    }

    /// <summary>
    /// Percent-escapes the characters that separate the parts of composite keys (<c>% / | = #</c> become <c>%25 %2F
    /// %7C %3D %23</c>); every other character is kept. Injective, and the result holds none of those separators.
    /// </summary>
    public static string EscapeKeyPart(string part)
    {
        ArgumentNullException.ThrowIfNull(part);
        if (part.AsSpan().IndexOfAny(KeySeparators) < 0)
        {
            return part;
        }

        var builder = new System.Text.StringBuilder(part.Length + 8);
        foreach (var c in part)
        {
            _ = c switch
            {
                '%' => builder.Append("%25"),
                '/' => builder.Append("%2F"),
                '|' => builder.Append("%7C"),
                '=' => builder.Append("%3D"),
                '#' => builder.Append("%23"),
                _ => builder.Append(c),
            };
        }

        return builder.ToString();
    }

    private static readonly System.Buffers.SearchValues<char> KeySeparators = System.Buffers.SearchValues.Create("%/|=#");

    /// <summary>Trims, validates and normalises a route-mapping identifier; the result is the mapping grain key.</summary>
    public static bool TryIdentifier(
        string? raw,
        IdentifierNormalization normalization,
        [NotNullWhen(true)] out string? key,
        [NotNullWhen(false)] out string? error)
    {
        var trimmed = raw?.Trim();
        if (!TryKey(trimmed, "identifier", MaxIdentifierLength, out key, out error))
        {
            return false;
        }

        if (normalization == IdentifierNormalization.LowerCase)
        {
            key = key.ToLowerInvariant();
        }

        return true;
    }

    /// <summary>Validates a route destination: 1 to 256 printable ASCII characters, no white space.</summary>
    public static bool TryDestination(string? raw, [NotNullWhen(true)] out string? destination, [NotNullWhen(false)] out string? error)
        => TryPrintable(raw, "destination", MaxDestinationLength, out destination, out error);

    private static bool TryPrintable(string? raw, string field, int maxLength, [NotNullWhen(true)] out string? value, [NotNullWhen(false)] out string? error)
        => TryValidate(raw, field, maxLength, static c => c > ' ' && c <= '~', static f => $"{f} must be printable ASCII without white space.", out value, out error);

    /// <summary>The Redis key of a route mapping: <c>{prefix}route:{identifier}</c>, a plain string operators may SET and DEL.</summary>
    public static string RedisRouteKey(string keyPrefix, string identifierKey) => $"{keyPrefix}route:{identifierKey}";

    /// <summary>
    /// The keyspace notifications of every route key (<c>__keyspace@{db}__:{prefix}route:*</c>), which silos and gateways
    /// listen to so a route written with <c>redis-cli</c> is seen at once. On a Redis Cluster a keyspace event is published
    /// only by the master that holds the key: StackExchange.Redis subscribes this channel on every primary.
    /// </summary>
    public static StackExchange.Redis.RedisChannel RedisRouteKeyspaceChannel(string keyPrefix, int database)
        => StackExchange.Redis.RedisChannel.KeySpacePrefix((StackExchange.Redis.RedisKey)RedisRouteKey(keyPrefix, ""), database);

    /// <summary>The identifier key named by a route key's keyspace channel; false for any other channel.</summary>
    public static bool TryParseRouteKeyspaceChannel(string channel, string keyPrefix, int database, [NotNullWhen(true)] out string? identifierKey)
    {
        ArgumentNullException.ThrowIfNull(channel);
        var prefix = RouteKeyspaceChannelPrefix(keyPrefix, database);
        identifierKey = channel.StartsWith(prefix, StringComparison.Ordinal) ? channel[prefix.Length..] : null;
        return identifierKey is not null;
    }

    private static string RouteKeyspaceChannelPrefix(string keyPrefix, int database)
        => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"__keyspace@{database}__:{RedisRouteKey(keyPrefix, "")}");

    /// <summary>The key of the one <see cref="Tenants.IRateLimitDomainsGrain"/> of a deployment: <c>fleet</c>.</summary>
    public const string RateLimitDomains = "fleet";

    /// <summary>
    /// The Redis pub/sub channel on which mapping grains announce a changed route (the message is the identifier key),
    /// so gateways drop their cached copy: <c>{prefix}routes:changed</c>.
    /// </summary>
    public static string RedisRouteChangesChannel(string keyPrefix) => $"{keyPrefix}routes:changed";

    /// <summary>
    /// A gateway's fallback counter while the grain cluster is unreachable (<paramref name="kind"/>: <c>lease</c>,
    /// <c>bytes</c>, <c>rl</c>, <c>tokens</c>). The only keys under the prefix that carry an expiry set by this service
    /// besides jti markers.
    /// </summary>
    /// <remarks><paramref name="kind"/> is one of this service's words and never holds <c>:</c>, so the id is all that
    /// follows it: two different (kind, id) pairs never share a key. A rate-limit id carries its rule
    /// (<see cref="RedisFallbackCounterId"/>).</remarks>
    public static string RedisFallbackKey(string keyPrefix, string kind, string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        if (kind.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException("a fallback key kind never holds ':'", nameof(kind));
        }

        return $"{keyPrefix}fb:{kind}:{id}";
    }

    /// <summary>
    /// The id of a rate-limit counter in the Redis fallback: <c>{rule tag}/{counter key}</c>. The rule tag
    /// (<see cref="RateLimitRuleTag"/>) never holds <c>/</c>, so the first slash separates the two.
    /// </summary>
    public static string RedisFallbackCounterId(string counterKey, Tenants.RateLimitPolicy policy) => $"{RateLimitRuleTag(policy)}/{counterKey}";

    /// <summary>
    /// The Redis hash that holds a user lease grain's persisted state (<c>UserLeaseGrain</c>, state <c>leases</c>,
    /// camelCase JSON in field <c>data</c>: <c>maxConnections</c> and <c>leases[].expiresAtMs</c>). The gateway's
    /// fallback script reads it, so the fallback counts the leases the grains granted.
    /// </summary>
    public static string RedisUserLeaseStateKey(string keyPrefix, string serviceId, string user)
        => $"{RedisGrainStatePrefix(keyPrefix, serviceId)}userlease/{user}/leases";

    /// <summary>
    /// The Redis hash that holds a user byte budget grain's persisted state (<c>UserByteBudgetGrain</c>, state
    /// <c>bytes</c>, camelCase JSON in field <c>data</c>: <c>byteBudget</c>, <c>budgetWindowMs</c>, <c>windowStartMs</c>,
    /// <c>used</c>). The gateway's byte fallback script reads it, so every gateway agrees on the window and budget.
    /// </summary>
    public static string RedisUserByteBudgetStateKey(string keyPrefix, string serviceId, string user)
        => $"{RedisGrainStatePrefix(keyPrefix, serviceId)}userbytebudget/{user}/bytes";

    /// <summary>
    /// The fallback lease set of a user. On a standalone Redis (or when <paramref name="keyPrefix"/> carries a hash tag,
    /// which puts every key of the deployment in one slot): <c>{prefix}fb:lease:{user}</c>, the name it always had. On a
    /// Redis Cluster: <c>{prefix}fb:lease:</c> followed by the user's lease grain state key
    /// (<see cref="RedisUserLeaseStateKey"/>) in braces, a hash tag equal to that state key, which has no tag of its own and
    /// so hashes whole: the two keys the fallback lease script touches share a slot (a cluster refuses a script over
    /// several). Needs <paramref name="serviceId"/> without braces and a prefix whose <c>{</c>, if any, opens a tag (both
    /// validated at startup).
    /// </summary>
    public static string RedisFallbackLeaseKey(string keyPrefix, string serviceId, string user, bool redisCluster)
        => TagFallbackKeys(keyPrefix, redisCluster)
            ? RedisFallbackKey(keyPrefix, "lease", HashTag(RedisUserLeaseStateKey(keyPrefix, serviceId, user)))
            : RedisFallbackKey(keyPrefix, "lease", user);

    /// <summary>The fallback byte window of a user; on a Redis Cluster in the slot of its byte budget grain state (as <see cref="RedisFallbackLeaseKey"/>).</summary>
    public static string RedisFallbackBytesKey(string keyPrefix, string serviceId, string user, bool redisCluster)
        => TagFallbackKeys(keyPrefix, redisCluster)
            ? RedisFallbackKey(keyPrefix, "bytes", HashTag(RedisUserByteBudgetStateKey(keyPrefix, serviceId, user)))
            : RedisFallbackKey(keyPrefix, "bytes", user);

    /// <summary>
    /// The fallback key of a rate-limit counter (<paramref name="counterId"/> from <see cref="RedisFallbackCounterId"/>:
    /// <c>{rule}/{tenant}/{policy}/{key}</c>, or <c>{rule}/#rls/{domain}/...</c> for Envoy). On a standalone Redis:
    /// <c>{prefix}fb:rl:{counter id}</c>. On a Redis Cluster the tenant (for Envoy: <c>#rls/{domain}</c>) is wrapped in
    /// braces as the hash tag, so the counters of one tenant or domain share a slot and one script charges them all or
    /// none. The braces go at fixed places (after the rule tag, which has no <c>/</c>, and around escaped parts, which have
    /// none either), so two counters never share a key.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="counterId"/> does not have that shape.</exception>
    public static string RedisFallbackCounterKey(string keyPrefix, string counterId, bool redisCluster)
    {
        ArgumentNullException.ThrowIfNull(counterId);
        if (!TagFallbackKeys(keyPrefix, redisCluster))
        {
            return RedisFallbackKey(keyPrefix, "rl", counterId);
        }

        var rule = counterId.IndexOf('/', StringComparison.Ordinal);
        var tagEnd = rule < 0 ? -1 : counterId.IndexOf('/', rule + 1);
        if (tagEnd > 0 && counterId.AsSpan(rule + 1, tagEnd - rule - 1).SequenceEqual(EnvoyCounterPrefix))
        {
            tagEnd = counterId.IndexOf('/', tagEnd + 1); // an Envoy counter: the domain is part of the tag
        }

        if (tagEnd < 0)
        {
            throw new ArgumentException("a counter id is {rule}/{tenant}/{policy}/{key} or {rule}/#rls/{domain}/{entries}", nameof(counterId));
        }

        return RedisFallbackKey(keyPrefix, "rl", string.Concat(counterId.AsSpan(0, rule + 1), HashTag(counterId[(rule + 1)..tagEnd]), counterId.AsSpan(tagEnd)));
    }

    /// <summary>
    /// True when Redis Cluster hashes <paramref name="key"/> by a hash tag: a <c>{</c> followed later by a <c>}</c> with at
    /// least one character between (the Redis Cluster specification's rule).
    /// </summary>
    public static bool HasRedisHashTag(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var open = key.IndexOf('{', StringComparison.Ordinal);
        return open >= 0 && key.IndexOf('}', open + 1) > open + 1;
    }

    /// <summary>
    /// <paramref name="part"/> as a Redis Cluster hash tag (<c>{part}</c>): keys that carry the same tag share a hash slot.
    /// A tag ends at its first <c>}</c>, so one inside the part shortens it (the same way for every key built from it).
    /// </summary>
    public static string HashTag(string part) => "{" + part + "}";

    private const string EnvoyCounterPrefix = "#rls";

    private static bool TagFallbackKeys(string keyPrefix, bool redisCluster) => redisCluster && !HasRedisHashTag(keyPrefix);

    /// <summary>Lease and reservation ids minted by a gateway's Redis fallback start with this, so later calls find the right store.</summary>
    public const string FallbackIdPrefix = "fb-";

    /// <summary>A new lease or reservation id for the fallback: <see cref="FallbackIdPrefix"/> and 128 random bits.</summary>
    public static string NewFallbackId() => FallbackIdPrefix + NewOpaqueId();

    /// <summary>The Redis hash that holds the silo membership table of one cluster.</summary>
    public static string RedisMembershipKey(string keyPrefix, string serviceId, string clusterId) => $"{keyPrefix}{serviceId}/members/{clusterId}";

    /// <summary>The Redis prefix under which grain state of one service is stored.</summary>
    public static string RedisGrainStatePrefix(string keyPrefix, string serviceId) => $"{keyPrefix}{serviceId}/state/";

    /// <summary>True when <paramref name="c"/> may appear in a key.</summary>
    public static bool IsAllowedKeyChar(char c)
        => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') || AllowedPunctuation.Contains(c);

    private static bool TryKey(string? raw, string field, int maxLength, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out string? error)
        => TryValidate(raw, field, maxLength, IsAllowedKeyChar, static f => $"{f} may contain only {CharacterSetDescription}.", out key, out error);

    /// <summary>The one validation loop: present, not too long, every character allowed.</summary>
    private static bool TryValidate(
        string? raw, string field, int maxLength, Func<char, bool> allowed, Func<string, string> charsetError,
        [NotNullWhen(true)] out string? value, [NotNullWhen(false)] out string? error)
    {
        value = null;
        if (string.IsNullOrEmpty(raw))
        {
            error = $"{field} is required.";
            return false;
        }

        if (raw.Length > maxLength)
        {
            error = $"{field} must be at most {maxLength} characters.";
            return false;
        }

        if (!raw.All(allowed))
        {
            error = charsetError(field);
            return false;
        }

        (value, error) = (raw, null);
        return true;
    }
}
