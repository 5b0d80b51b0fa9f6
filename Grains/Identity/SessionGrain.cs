using System.Text.Json;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Identity;

namespace Orleans.Coordinator.Grains.Identity;

/// <summary>
/// Single writer over one session. Data is encrypted before it reaches state; an expired session is cleared
/// when next touched. A sliding session persists its new expiry only when it moved by a tenth of the ttl or
/// more, so reads rarely write (a silo crash can cut a sliding session short by at most that tenth).
/// </summary>
internal sealed class SessionGrain(
    [PersistentState("session", CoordinatorStorage.Name)] IPersistentState<SessionState> state,
    IdentitySecrets secrets,
    CoordinatorClock clock,
    IOptions<SecurityOptions> options) : Grain, ISessionGrain
{
    private string Id => this.GetPrimaryKeyString();

    public async Task<long?> CreateAsync(SessionCreateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        if (await IsLiveAsync())
        {
            return null;
        }

        var now = clock.NowMs;
        var expiresAt = now + request.TtlMs;
        var forgetAfter = request.Sliding ? now + (long)options.Value.SessionMaxLifetime.TotalMilliseconds : expiresAt;
        await GrainFactory.GetGrain<ISubjectSessionsGrain>(request.Subject).AddAsync(Id, forgetAfter);
        return await state.UpdateAsync(s =>
        {
            s.Subject = request.Subject;
            s.Tenant = request.Tenant;
            s.EncryptedData = secrets.Encrypt(Id, request.DataJson);
            s.CreatedAtMs = now;
            s.ExpiresAtMs = expiresAt;
            s.TtlMs = request.TtlMs;
            s.Sliding = request.Sliding;
            return ((long?)expiresAt, true);
        });
    }

    public async Task<SessionSnapshot?> GetAsync()
    {
        if (!await IsLiveAsync())
        {
            return null;
        }

        if (state.State.Sliding)
        {
            var now = clock.NowMs;
            var cap = state.State.CreatedAtMs + (long)options.Value.SessionMaxLifetime.TotalMilliseconds;
            var slid = Math.Min(now + state.State.TtlMs, cap);
            if (slid - state.State.ExpiresAtMs >= state.State.TtlMs / 10)
            {
                await state.UpdateAsync(s =>
                {
                    s.ExpiresAtMs = slid;
                    return (true, true);
                });
            }
        }

        var s = state.State;
        return new SessionSnapshot(s.Subject, s.Tenant, secrets.Decrypt(Id, s.EncryptedData!), s.ExpiresAtMs, s.Sliding);
    }

    public async Task<long?> PutDataAsync(string dataJson)
    {
        ValidateData(dataJson);
        if (!await IsLiveAsync())
        {
            return null;
        }

        return await state.UpdateAsync(s =>
        {
            s.EncryptedData = secrets.Encrypt(Id, dataJson);
            return ((long?)s.ExpiresAtMs, true);
        });
    }

    public async Task<bool> EndAsync()
    {
        if (!await IsLiveAsync())
        {
            return false;
        }

        var subject = state.State.Subject;
        await state.ClearStateAsync();
        // One-way: the subject's index may be calling this grain right now (log out everywhere).
        GrainFactory.GetGrain<ISubjectSessionsGrain>(subject).RemoveAsync(Id).Ignore();
        return true;
    }

    public async Task EndForSubjectAsync()
    {
        if (state.State.EncryptedData is not null)
        {
            await state.ClearStateAsync();
        }
    }

    /// <summary>True when a session exists and has not expired; an expired one is cleared here.</summary>
    private async Task<bool> IsLiveAsync()
    {
        if (state.State.EncryptedData is null)
        {
            return false;
        }

        if (clock.NowMs < state.State.ExpiresAtMs)
        {
            return true;
        }

        await state.ClearStateAsync();
        return false;
    }

    private static void Validate(SessionCreateRequest request)
    {
        if (!GrainKeys.TrySubject(request.Subject, out _, out var error))
        {
            throw new CoordinatorValidationException("subject", error);
        }

        if (!GrainKeys.TryTenant(request.Tenant, out _, out error))
        {
            throw new CoordinatorValidationException("tenant", error);
        }

        if (request.TtlMs < IdentityLimits.MinSessionTtlMs || request.TtlMs > IdentityLimits.MaxSessionTtlMs)
        {
            throw new CoordinatorValidationException("ttlMs", $"ttlMs must be between {IdentityLimits.MinSessionTtlMs} and {IdentityLimits.MaxSessionTtlMs}.");
        }

        ValidateData(request.DataJson);
    }

    internal static void ValidateData(string? dataJson)
    {
        if (dataJson is null || System.Text.Encoding.UTF8.GetByteCount(dataJson) > IdentityLimits.MaxSessionDataBytes)
        {
            throw new CoordinatorValidationException("data", $"data must be a JSON object of at most {IdentityLimits.MaxSessionDataBytes} bytes.");
        }

        try
        {
            using var document = JsonDocument.Parse(dataJson);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CoordinatorValidationException("data", "data must be a JSON object.");
            }
        }
        catch (JsonException)
        {
            throw new CoordinatorValidationException("data", "data must be a JSON object.");
        }
    }
}
