using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Grains.Identity;

/// <summary>One session encryption key.</summary>
public sealed class SessionKeyOptions
{
    /// <summary>Short id stored with each ciphertext, so older keys still decrypt after rotation.</summary>
    public string Id { get; set; } = string.Empty;

    /// <summary>32 random bytes, base64 (<c>openssl rand -base64 32</c>).</summary>
    public string Key { get; set; } = string.Empty;
}

/// <summary>
/// The <c>Security</c> configuration section of silos: session encryption keys (the last one encrypts, all
/// decrypt), the API-key HMAC secret, and replay-guard bounds. Required in cluster mode; an embedded gateway
/// without them uses random keys that die with the process (its state does too).
/// </summary>
public sealed class SecurityOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Security";

    /// <summary>Session keys, oldest first: the last one encrypts new data.</summary>
    public List<SessionKeyOptions> SessionKeys { get; set; } = [];

    /// <summary>Secret for the HMAC-SHA256 of API keys: at least 32 random bytes, base64.</summary>
    public string? ApiKeyHmacSecret { get; set; }

    /// <summary>How long after a token's expiry its jti is still refused (clock skew between issuers and verifiers).</summary>
    public TimeSpan JtiClockSkew { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest a jti is remembered: tokens living longer are refused (400), which bounds memory.</summary>
    public TimeSpan JtiMaxLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Absolute lifetime of a sliding session, however often it is read.</summary>
    public TimeSpan SessionMaxLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>True when session keys and the HMAC secret are configured.</summary>
    public bool HasSecrets => SessionKeys.Count > 0 && !string.IsNullOrEmpty(ApiKeyHmacSecret);

    /// <inheritdoc/>
    public IEnumerable<string> Validate()
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in SessionKeys)
        {
            if (string.IsNullOrWhiteSpace(key.Id) || key.Id.Length > 32 || key.Id.Contains('.'))
            {
                yield return "Security:SessionKeys ids must be 1 to 32 characters without '.'.";
            }
            else if (!ids.Add(key.Id))
            {
                yield return $"Security:SessionKeys id '{key.Id}' appears twice.";
            }

            if (Decode(key.Key) is not { Length: 32 })
            {
                yield return $"Security:SessionKeys key '{key.Id}' must be 32 bytes in base64 (openssl rand -base64 32).";
            }
        }

        if (ApiKeyHmacSecret is not null && Decode(ApiKeyHmacSecret) is not { Length: >= 32 })
        {
            yield return "Security:ApiKeyHmacSecret must be at least 32 bytes in base64 (openssl rand -base64 32).";
        }

        if (JtiClockSkew < TimeSpan.Zero || JtiClockSkew > TimeSpan.FromHours(1))
        {
            yield return "Security:JtiClockSkew must be between 00:00:00 and 01:00:00.";
        }

        if (JtiMaxLifetime < TimeSpan.FromMinutes(1) || JtiMaxLifetime > TimeSpan.FromDays(30))
        {
            yield return "Security:JtiMaxLifetime must be between 00:01:00 and 30.00:00:00.";
        }

        if (SessionMaxLifetime < TimeSpan.FromMinutes(1) || SessionMaxLifetime > TimeSpan.FromDays(366))
        {
            yield return "Security:SessionMaxLifetime must be between 00:01:00 and 366.00:00:00.";
        }
    }

    internal static byte[]? Decode(string? base64)
    {
        try
        {
            return string.IsNullOrEmpty(base64) ? null : Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
