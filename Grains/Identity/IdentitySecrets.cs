using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Orleans.Coordinator.Grains.Identity;

/// <summary>
/// The silo's identity secrets: AES-GCM session keys and the API-key HMAC key. Configured keys are used when
/// present; otherwise (embedded mode only: cluster mode refuses to start without them) random keys that live
/// as long as the process, like the in-memory state they protect.
/// </summary>
public sealed partial class IdentitySecrets
{
    private const string Version = "v1";
    private const int NonceSize = 12;
    private const int TagSize = 16;

    private readonly (string Id, byte[] Key)[] _sessionKeys;
    private readonly byte[] _hmacKey;

    /// <summary>Loads the keys from <see cref="SecurityOptions"/>.</summary>
    public IdentitySecrets(IOptions<SecurityOptions> options, ILogger<IdentitySecrets> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        if (value.SessionKeys.Count > 0)
        {
            _sessionKeys = [.. value.SessionKeys.Select(k => (k.Id, SecurityOptions.Decode(k.Key)!))];
        }
        else
        {
            _sessionKeys = [("ephemeral", RandomNumberGenerator.GetBytes(32))];
            LogEphemeral(logger, "Security:SessionKeys");
        }

        if (SecurityOptions.Decode(value.ApiKeyHmacSecret) is { } hmac)
        {
            _hmacKey = hmac;
        }
        else
        {
            _hmacKey = RandomNumberGenerator.GetBytes(32);
            LogEphemeral(logger, "Security:ApiKeyHmacSecret");
        }
    }

    /// <summary>Encrypts with the newest key; the ciphertext only decrypts for the same <paramref name="sessionId"/>.</summary>
    public string Encrypt(string sessionId, string plaintext)
    {
        var (id, key) = _sessionKeys[^1];
        var data = Encoding.UTF8.GetBytes(plaintext);
        var blob = new byte[NonceSize + data.Length + TagSize];
        var nonce = blob.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, data, blob.AsSpan(NonceSize, data.Length), blob.AsSpan(NonceSize + data.Length), AssociatedData(sessionId, id));
        return $"{Version}.{id}.{Convert.ToBase64String(blob)}";
    }

    /// <summary>Decrypts with the key the blob names; throws <see cref="CryptographicException"/> for a blob of another session or a removed key.</summary>
    public string Decrypt(string sessionId, string stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var parts = stored.Split('.', 3);
        if (parts.Length != 3 || parts[0] != Version)
        {
            throw new CryptographicException("Unknown session data format.");
        }

        var key = _sessionKeys.FirstOrDefault(k => k.Id == parts[1]).Key
            ?? throw new CryptographicException($"Session key '{parts[1]}' is no longer configured.");
        var blob = Convert.FromBase64String(parts[2]);
        if (blob.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("Session data is truncated.");
        }

        var length = blob.Length - NonceSize - TagSize;
        var data = new byte[length];
        using var aes = new AesGcm(key, TagSize);
        aes.Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize, length), blob.AsSpan(NonceSize + length), data, AssociatedData(sessionId, parts[1]));
        return Encoding.UTF8.GetString(data);
    }

    /// <summary>HMAC-SHA256 of an API-key secret, base64.</summary>
    public string HashApiKey(string secret) => Convert.ToBase64String(HMACSHA256.HashData(_hmacKey, Encoding.UTF8.GetBytes(secret)));

    /// <summary>Compares a presented secret with a stored HMAC in constant time.</summary>
    public bool VerifyApiKey(string secret, string storedHmac)
    {
        var presented = HMACSHA256.HashData(_hmacKey, Encoding.UTF8.GetBytes(secret));
        var stored = SecurityOptions.Decode(storedHmac) ?? [];
        return CryptographicOperations.FixedTimeEquals(presented, stored);
    }

    private static byte[] AssociatedData(string sessionId, string keyId) => Encoding.UTF8.GetBytes($"coordinator-session|{keyId}|{sessionId}");

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Setting} is not configured: using a random key that lives only as long as this process (fine for embedded mode, whose state is in memory too).")]
    private static partial void LogEphemeral(ILogger logger, string setting);
}
