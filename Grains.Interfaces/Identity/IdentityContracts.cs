namespace Orleans.Coordinator.Grains.Interfaces.Identity;

/// <summary>Creates a session.</summary>
/// <param name="Subject">Whom the session belongs to.</param>
/// <param name="Tenant">The tenant.</param>
/// <param name="DataJson">A JSON object, stored encrypted.</param>
/// <param name="TtlMs">Lifetime (or idle timeout when sliding).</param>
/// <param name="Sliding">Each read pushes the expiry to now + ttl, up to the maximum lifetime.</param>
[GenerateSerializer, Immutable, Alias("coordinator.SessionCreateRequest")]
public sealed record SessionCreateRequest(
    [property: Id(0)] string Subject,
    [property: Id(1)] string Tenant,
    [property: Id(2)] string DataJson,
    [property: Id(3)] long TtlMs,
    [property: Id(4)] bool Sliding);

/// <summary>A live session, decrypted.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.SessionSnapshot")]
public sealed record SessionSnapshot(
    [property: Id(0)] string Subject,
    [property: Id(1)] string Tenant,
    [property: Id(2)] string DataJson,
    [property: Id(3)] long ExpiresAtMs,
    [property: Id(4)] bool Sliding);

/// <summary>The answer of the replay guard.</summary>
/// <param name="FirstUse">True the first time; false on every later use.</param>
/// <param name="RefusedUntilMs">Until when later uses are refused.</param>
[GenerateSerializer, Immutable, Alias("coordinator.JtiCheckResult")]
public sealed record JtiCheckResult([property: Id(0)] bool FirstUse, [property: Id(1)] long RefusedUntilMs);

/// <summary>Creates an API key.</summary>
[GenerateSerializer, Immutable, Alias("coordinator.ApiKeyCreateRequest")]
public sealed record ApiKeyCreateRequest(
    [property: Id(0)] string Tenant,
    [property: Id(1)] string Name,
    [property: Id(2)] IReadOnlyList<string> Scopes,
    [property: Id(3)] long? ExpiresAtMs);

/// <summary>What an API key grants (never the secret).</summary>
[GenerateSerializer, Immutable, Alias("coordinator.ApiKeyInfo")]
public sealed record ApiKeyInfo(
    [property: Id(0)] string KeyId,
    [property: Id(1)] string Tenant,
    [property: Id(2)] string Name,
    [property: Id(3)] IReadOnlyList<string> Scopes,
    [property: Id(4)] long? ExpiresAtMs,
    [property: Id(5)] bool Revoked,
    [property: Id(6)] long CreatedAtMs);

/// <summary>Bounds on identity state.</summary>
public static class IdentityLimits
{
    /// <summary>Largest session data: 16 KiB of UTF-8 JSON.</summary>
    public const int MaxSessionDataBytes = 16 * 1024;

    /// <summary>Shortest session ttl: 1 second.</summary>
    public const long MinSessionTtlMs = 1_000;

    /// <summary>Longest session ttl: 30 days.</summary>
    public const long MaxSessionTtlMs = 30L * 86_400_000;

    /// <summary>Most scopes on an API key.</summary>
    public const int MaxScopes = 32;

    /// <summary>Longest scope or key name.</summary>
    public const int MaxScopeLength = 64;

    /// <summary>Longest jti or issuer.</summary>
    public const int MaxJtiLength = 512;
}

/// <summary>
/// The API key format: <c>ock_{keyId}_{secret}</c>. The key id (32 hex) names the key's grain; only an
/// HMAC-SHA256 of the secret is stored.
/// </summary>
public static class ApiKeyFormat
{
    /// <summary>The prefix every key starts with (so secret scanners can find leaked keys).</summary>
    public const string Prefix = "ock_";

    /// <summary>Builds the key shown to the caller once.</summary>
    public static string Compose(string keyId, string secret) => $"{Prefix}{keyId}_{secret}";

    /// <summary>Splits a presented key; false when it is not of this format.</summary>
    public static bool TryParse(string? apiKey, out string keyId, out string secret)
    {
        (keyId, secret) = (string.Empty, string.Empty);
        if (apiKey is null || apiKey.Length < Prefix.Length + 34 || apiKey.Length > 200 || !apiKey.StartsWith(Prefix, StringComparison.Ordinal)
            || apiKey[Prefix.Length + 32] != '_')
        {
            return false;
        }

        var id = apiKey.Substring(Prefix.Length, 32);
        if (!GrainKeys.TryOpaqueId(id, "keyId", out _, out _))
        {
            return false;
        }

        (keyId, secret) = (id, apiKey[(Prefix.Length + 33)..]);
        return true;
    }
}
