namespace Orleans.Coordinator.Grains.Identity;

/// <summary>A persisted session: metadata in the clear, data only as AES-GCM ciphertext.</summary>
[GenerateSerializer, Alias("coordinator.SessionState")]
public sealed class SessionState
{
    /// <summary>Whom the session belongs to.</summary>
    [Id(0)]
    public string Subject { get; set; } = string.Empty;

    /// <summary>The tenant.</summary>
    [Id(1)]
    public string Tenant { get; set; } = string.Empty;

    /// <summary><c>v1.{keyId}.{base64(nonce|ciphertext|tag)}</c>; null when there is no session.</summary>
    [Id(2)]
    public string? EncryptedData { get; set; }

    /// <summary>Creation time (Unix ms).</summary>
    [Id(3)]
    public long CreatedAtMs { get; set; }

    /// <summary>Expiry (Unix ms).</summary>
    [Id(4)]
    public long ExpiresAtMs { get; set; }

    /// <summary>Lifetime, or idle timeout when sliding.</summary>
    [Id(5)]
    public long TtlMs { get; set; }

    /// <summary>Whether reads slide the expiry.</summary>
    [Id(6)]
    public bool Sliding { get; set; }
}

/// <summary>A subject's sessions and when each can be forgotten.</summary>
[GenerateSerializer, Alias("coordinator.SubjectSessionsState")]
public sealed class SubjectSessionsState
{
    /// <summary>Session id to the latest time it can still be live.</summary>
    [Id(0)]
    public Dictionary<string, long> Sessions { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>A persisted API key: its grants and the HMAC of its secret, never the secret.</summary>
[GenerateSerializer, Alias("coordinator.ApiKeyState")]
public sealed class ApiKeyState
{
    /// <summary>The tenant; empty when the key does not exist.</summary>
    [Id(0)]
    public string Tenant { get; set; } = string.Empty;

    /// <summary>A human name.</summary>
    [Id(1)]
    public string Name { get; set; } = string.Empty;

    /// <summary>Granted scopes.</summary>
    [Id(2)]
    public List<string> Scopes { get; set; } = [];

    /// <summary>Expiry (Unix ms), or null for none.</summary>
    [Id(3)]
    public long? ExpiresAtMs { get; set; }

    /// <summary>Revoked keys never validate again.</summary>
    [Id(4)]
    public bool Revoked { get; set; }

    /// <summary>Creation time (Unix ms).</summary>
    [Id(5)]
    public long CreatedAtMs { get; set; }

    /// <summary>HMAC-SHA256 of the secret under Security:ApiKeyHmacSecret, base64.</summary>
    [Id(6)]
    public string SecretHmac { get; set; } = string.Empty;
}
