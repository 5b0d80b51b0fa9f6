using System.Buffers.Text;
using System.Security.Cryptography;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Identity;

namespace Orleans.Coordinator.Grains.Identity;

/// <summary>
/// One API key. The secret exists only in the answer to <see cref="CreateAsync"/>; state holds its HMAC.
/// Revocation is persisted before it is acknowledged, and every validation asks this grain, so a revoked
/// key fails on every gateway from the next call on.
/// </summary>
internal sealed class ApiKeyGrain(
    [PersistentState("apikey", CoordinatorStorage.Name)] IPersistentState<ApiKeyState> state,
    IdentitySecrets secrets,
    CoordinatorClock clock) : Grain, IApiKeyGrain
{
    private bool Exists => state.State.SecretHmac.Length > 0;

    public Task<string?> CreateAsync(ApiKeyCreateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        var secret = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        return state.UpdateAsync<ApiKeyState, string?>(s =>
        {
            if (Exists)
            {
                return (null, false);
            }

            s.Tenant = request.Tenant;
            s.Name = request.Name;
            s.Scopes = [.. request.Scopes];
            s.ExpiresAtMs = request.ExpiresAtMs;
            s.Revoked = false;
            s.CreatedAtMs = clock.NowMs;
            s.SecretHmac = secrets.HashApiKey(secret);
            return (secret, true);
        });
    }

    public Task<ApiKeyInfo?> ValidateAsync(string secret)
    {
        // The HMAC is compared even for unknown keys, so timing does not tell which key ids exist.
        var matches = secrets.VerifyApiKey(secret ?? string.Empty, Exists ? state.State.SecretHmac : string.Empty);
        var valid = Exists && matches && !state.State.Revoked && (state.State.ExpiresAtMs is null || clock.NowMs < state.State.ExpiresAtMs);
        return Task.FromResult(valid ? Info() : null);
    }

    public Task<ApiKeyInfo?> GetAsync() => Task.FromResult(Exists ? Info() : null);

    public Task<bool> RevokeAsync()
        => state.UpdateAsync(s =>
        {
            if (!Exists)
            {
                return (false, false);
            }

            var changed = !s.Revoked;
            s.Revoked = true;
            return (true, changed);
        });

    private ApiKeyInfo Info()
    {
        var s = state.State;
        return new ApiKeyInfo(this.GetPrimaryKeyString(), s.Tenant, s.Name, [.. s.Scopes], s.ExpiresAtMs, s.Revoked, s.CreatedAtMs);
    }

    private static void Validate(ApiKeyCreateRequest request)
    {
        if (!GrainKeys.TryTenant(request.Tenant, out _, out var error))
        {
            throw new CoordinatorValidationException("tenant", error);
        }

        if (!GrainKeys.TryPolicy(request.Name, out _, out _))
        {
            throw new CoordinatorValidationException("name", $"name may contain only {GrainKeys.CharacterSetDescription}, 1 to 64 characters.");
        }

        if (request.Scopes.Count > IdentityLimits.MaxScopes || request.Scopes.Any(s => !GrainKeys.TryPolicy(s, out _, out _)))
        {
            throw new CoordinatorValidationException("scopes", $"scopes: at most {IdentityLimits.MaxScopes}, each 1 to 64 characters of {GrainKeys.CharacterSetDescription}.");
        }
    }
}
