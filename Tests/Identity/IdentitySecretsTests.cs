using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Identity;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Identity;

public sealed class IdentitySecretsTests
{
    private static IdentitySecrets With(params (string Id, string Key)[] keys) => new(
        Options.Create(new SecurityOptions
        {
            SessionKeys = [.. keys.Select(k => new SessionKeyOptions { Id = k.Id, Key = k.Key })],
            ApiKeyHmacSecret = TestSecrets.HmacSecret,
        }),
        NullLogger<IdentitySecrets>.Instance);

    [Fact]
    public void Encrypt_ThenDecrypt_RoundTripsWithoutPlaintextInTheBlob()
    {
        var secrets = With(("k1", TestSecrets.NewSessionKey));

        var blob = secrets.Encrypt("session-a", """{"secret":"hunter2"}""");

        Assert.DoesNotContain("hunter2", blob, StringComparison.Ordinal);
        Assert.StartsWith("v1.k1.", blob, StringComparison.Ordinal);
        Assert.Equal("""{"secret":"hunter2"}""", secrets.Decrypt("session-a", blob));
    }

    [Fact]
    public void Rotation_NewestKeyEncrypts_OlderKeysStillDecrypt()
    {
        var before = With(("old", TestSecrets.OldSessionKey));
        var after = With(("old", TestSecrets.OldSessionKey), ("new", TestSecrets.NewSessionKey));
        var oldBlob = before.Encrypt("s", "{}");

        var newBlob = after.Encrypt("s", "{}");

        Assert.Equal("{}", after.Decrypt("s", oldBlob));
        Assert.StartsWith("v1.new.", newBlob, StringComparison.Ordinal);
        Assert.Throws<CryptographicException>(() => With(("new", TestSecrets.NewSessionKey)).Decrypt("s", oldBlob));
    }

    [Fact]
    public void BlobMovedToAnotherSession_FailsToDecrypt()
    {
        var secrets = With(("k1", TestSecrets.NewSessionKey));
        var blob = secrets.Encrypt("session-a", "{}");

        Assert.ThrowsAny<CryptographicException>(() => secrets.Decrypt("session-b", blob));
    }

    [Fact]
    public void ApiKeyHmac_VerifiesOnlyTheSameSecret()
    {
        var secrets = With(("k1", TestSecrets.NewSessionKey));
        var stored = secrets.HashApiKey("the-secret");

        Assert.True(secrets.VerifyApiKey("the-secret", stored));
        Assert.False(secrets.VerifyApiKey("the-secreT", stored));
        Assert.DoesNotContain("the-secret", stored, StringComparison.Ordinal);
    }

    [Fact]
    public void SecurityOptions_BadKeys_AreRefused()
    {
        var options = new SecurityOptions
        {
            SessionKeys = [new() { Id = "a", Key = "short" }, new() { Id = "a", Key = TestSecrets.NewSessionKey }],
            ApiKeyHmacSecret = "dG9vIHNob3J0",
        };

        var problems = options.Validate().ToList();

        Assert.Equal(3, problems.Count);
    }
}
