using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Identity;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Apis;

/// <summary>Body of <c>POST /v1/sessions</c>.</summary>
public sealed record SessionCreateBody(string? Subject, string? Tenant, JsonElement? Data, long? TtlMs, bool? Sliding);

/// <summary>A created session.</summary>
public sealed record SessionCreatedResponse(string SessionId, long ExpiresAtMs);

/// <summary>A live session.</summary>
public sealed record SessionResponse(string SessionId, string Subject, string Tenant, JsonElement Data, long ExpiresAtMs, bool Sliding);

/// <summary>Answer of <c>DELETE /v1/subjects/{subject}/sessions</c>.</summary>
public sealed record SubjectLogoutResponse(int Ended);

/// <summary>Body of <c>POST /v1/replay/check</c>.</summary>
public sealed record ReplayCheckBody(string? Jti, string? Issuer, long? ExpiresAtMs);

/// <summary>A first use.</summary>
public sealed record ReplayCheckResponse(bool FirstUse);

/// <summary>Body of <c>POST /v1/apikeys</c>.</summary>
public sealed record ApiKeyCreateBody(string? Tenant, string? Name, IReadOnlyList<string>? Scopes, long? ExpiresAtMs);

/// <summary>A created key: the only time the secret is shown.</summary>
public sealed record ApiKeyCreatedResponse(string KeyId, string ApiKey);

/// <summary>Body of <c>POST /v1/apikeys/validate</c>.</summary>
public sealed record ApiKeyValidateBody(string? ApiKey);

/// <summary>What a key grants.</summary>
public sealed record ApiKeyResponse(string KeyId, string Tenant, string Name, IReadOnlyList<string> Scopes, long? ExpiresAtMs, bool Revoked, long CreatedAtMs);

/// <summary>Shared sessions, the jti replay guard and API keys.</summary>
public static class IdentityApi
{
    private const long DefaultSessionTtlMs = 3_600_000;

    /// <summary>Maps <c>/v1/sessions</c>, <c>/v1/subjects</c>, <c>/v1/replay</c> and <c>/v1/apikeys</c>.</summary>
    public static IEndpointRouteBuilder MapIdentityApi(this IEndpointRouteBuilder app)
    {
        var sessions = app.MapGroup("/v1/sessions").WithTags("Sessions").RequireAuthorization(CoordinatorPolicies.Client);
        sessions.MapPost("/", CreateSession).WithName("CreateSession").WithSummary("Create a shared session; data is encrypted at rest.");
        sessions.MapGet("/{sessionId}", GetSession).WithName("GetSession").WithSummary("Read a session (slides its expiry when sliding).");
        sessions.MapPut("/{sessionId}/data", PutSessionData).WithName("PutSessionData").WithSummary("Replace a session's data.");
        sessions.MapDelete("/{sessionId}", DeleteSession).WithName("DeleteSession").WithSummary("End a session.");
        app.MapDelete("/v1/subjects/{subject}/sessions", LogOutEverywhere).WithTags("Sessions").RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("EndSubjectSessions").WithSummary("End every session of a subject (log out everywhere).");

        app.MapPost("/v1/replay/check", CheckReplay).WithTags("Replay guard").RequireAuthorization(CoordinatorPolicies.Client)
            .WithName("CheckReplay").WithSummary("200 the first time a token id is seen, 409 on every later use until it expires.");

        var keys = app.MapGroup("/v1/apikeys").WithTags("API keys");
        keys.MapPost("/", CreateApiKey).RequireAuthorization(CoordinatorPolicies.Admin).WithName("CreateApiKey").WithSummary("Create a key; the secret is shown only in this answer.");
        keys.MapPost("/validate", ValidateApiKey).RequireAuthorization(CoordinatorPolicies.Client).WithName("ValidateApiKey").WithSummary("Validate a presented key.");
        keys.MapGet("/{keyId}", GetApiKey).RequireAuthorization(CoordinatorPolicies.Admin).WithName("GetApiKey").WithSummary("A key's grants (never the secret).");
        keys.MapDelete("/{keyId}", RevokeApiKey).RequireAuthorization(CoordinatorPolicies.Admin).WithName("RevokeApiKey").WithSummary("Revoke a key.");
        return app;
    }

    internal static async Task<Results<Created<SessionCreatedResponse>, ProblemHttpResult>> CreateSession(SessionCreateBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TrySubject(body.Subject, out var subject, out var error))
        {
            return ProblemResponses.Invalid(context, "subject", error);
        }

        if (!GrainKeys.TryTenant(body.Tenant, out var tenant, out error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (body.Data is { ValueKind: not JsonValueKind.Object })
        {
            return ProblemResponses.Invalid(context, "data", "data must be a JSON object.");
        }

        var ttl = body.TtlMs ?? DefaultSessionTtlMs;
        var data = body.Data?.GetRawText() ?? "{}";
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var id = GrainKeys.NewOpaqueId();
            var expires = await grains.Get<ISessionGrain>(id).CreateAsync(new SessionCreateRequest(subject, tenant, data, ttl, body.Sliding ?? false));
            if (expires is { } expiresAt)
            {
                return TypedResults.Created($"/v1/sessions/{id}", new SessionCreatedResponse(id, expiresAt));
            }
        }

        throw new InvalidOperationException("Three random session ids in a row were taken.");
    }

    internal static async Task<Results<Ok<SessionResponse>, ProblemHttpResult>> GetSession(string sessionId, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryOpaqueId(sessionId, "sessionId", out var id, out var error))
        {
            return ProblemResponses.Invalid(context, "sessionId", error);
        }

        var session = await grains.Get<ISessionGrain>(id).GetAsync();
        if (session is null)
        {
            return SessionNotFound(context);
        }

        using var data = JsonDocument.Parse(session.DataJson);
        return TypedResults.Ok(new SessionResponse(id, session.Subject, session.Tenant, data.RootElement.Clone(), session.ExpiresAtMs, session.Sliding));
    }

    internal static async Task<Results<Ok<SessionCreatedResponse>, ProblemHttpResult>> PutSessionData(string sessionId, JsonElement body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryOpaqueId(sessionId, "sessionId", out var id, out var error))
        {
            return ProblemResponses.Invalid(context, "sessionId", error);
        }

        if (body.ValueKind != JsonValueKind.Object)
        {
            return ProblemResponses.Invalid(context, "data", "data must be a JSON object.");
        }

        var expires = await grains.Get<ISessionGrain>(id).PutDataAsync(body.GetRawText());
        return expires is { } expiresAt ? TypedResults.Ok(new SessionCreatedResponse(id, expiresAt)) : SessionNotFound(context);
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> DeleteSession(string sessionId, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryOpaqueId(sessionId, "sessionId", out var id, out var error))
        {
            return ProblemResponses.Invalid(context, "sessionId", error);
        }

        return await grains.Get<ISessionGrain>(id).EndAsync() ? TypedResults.NoContent() : SessionNotFound(context);
    }

    internal static async Task<Results<Ok<SubjectLogoutResponse>, ProblemHttpResult>> LogOutEverywhere(string subject, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TrySubject(subject, out var key, out var error))
        {
            return ProblemResponses.Invalid(context, "subject", error);
        }

        return TypedResults.Ok(new SubjectLogoutResponse(await grains.Get<ISubjectSessionsGrain>(key).EndAllAsync()));
    }

    internal static async Task<Results<Ok<ReplayCheckResponse>, ProblemHttpResult>> CheckReplay(
        ReplayCheckBody body, HttpContext context, IGrainFactory grains, ReplayGuardSettings settings, TimeProvider time)
    {
        if (string.IsNullOrEmpty(body.Jti) || body.Jti.Length > IdentityLimits.MaxJtiLength)
        {
            return ProblemResponses.Invalid(context, "jti", $"jti is required, at most {IdentityLimits.MaxJtiLength} characters.");
        }

        if (string.IsNullOrEmpty(body.Issuer) || body.Issuer.Length > IdentityLimits.MaxJtiLength)
        {
            return ProblemResponses.Invalid(context, "issuer", $"issuer is required, at most {IdentityLimits.MaxJtiLength} characters.");
        }

        if (body.ExpiresAtMs is not { } expiresAt)
        {
            return ProblemResponses.Invalid(context, "expiresAtMs", "expiresAtMs is required (the token's exp, in Unix ms).");
        }

        // Compared before anything is added to expiresAtMs, so no value (long.MaxValue included) can overflow.
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var skew = (long)settings.JtiClockSkew.TotalMilliseconds;
        if (expiresAt <= now - skew)
        {
            return ProblemResponses.Invalid(context, "expiresAtMs", "the token has already expired (beyond the allowed clock skew).");
        }

        var refuseUntil = expiresAt > now + (long)settings.JtiMaxLifetime.TotalMilliseconds ? long.MaxValue : expiresAt + skew;
        if (refuseUntil - now > settings.JtiMaxLifetime.TotalMilliseconds)
        {
            return ProblemResponses.Invalid(context, "expiresAtMs", $"tokens living longer than {settings.JtiMaxLifetime} are not accepted (Security:JtiMaxLifetime).");
        }

        var result = await grains.Get<IJtiReplayGuardGrain>(GrainKeys.Jti(body.Issuer, body.Jti)).CheckAsync(refuseUntil);
        CoordinatorDiagnostics.Decision("replay", result.FirstUse);
        if (!result.FirstUse)
        {
            var conflict = ProblemResponses.Conflict("replayed-token", "This token id was already used.",
                "A token id is accepted once; it is refused until the token expires.");
            conflict.Extensions["refusedUntilMs"] = result.RefusedUntilMs;
            return ProblemResponses.Result(context, conflict);
        }

        return TypedResults.Ok(new ReplayCheckResponse(true));
    }

    internal static async Task<Results<Created<ApiKeyCreatedResponse>, ProblemHttpResult>> CreateApiKey(ApiKeyCreateBody body, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryTenant(body.Tenant, out var tenant, out var error))
        {
            return ProblemResponses.Invalid(context, "tenant", error);
        }

        if (!GrainKeys.TryPolicy(body.Name, out var name, out _))
        {
            return ProblemResponses.Invalid(context, "name", $"name is required: 1 to 64 characters of {GrainKeys.CharacterSetDescription}.");
        }

        var scopes = body.Scopes ?? [];
        if (scopes.Count > IdentityLimits.MaxScopes || scopes.Any(s => !GrainKeys.TryPolicy(s, out _, out _)))
        {
            return ProblemResponses.Invalid(context, "scopes", $"scopes: at most {IdentityLimits.MaxScopes}, each 1 to 64 characters of {GrainKeys.CharacterSetDescription}.");
        }

        if (body.ExpiresAtMs is { } expiresAt && expiresAt <= DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())
        {
            return ProblemResponses.Invalid(context, "expiresAtMs", "expiresAtMs must be in the future.");
        }

        var keyId = GrainKeys.NewOpaqueId();
        var secret = await grains.Get<IApiKeyGrain>(keyId).CreateAsync(new ApiKeyCreateRequest(tenant, name, scopes, body.ExpiresAtMs))
            ?? throw new InvalidOperationException("A random key id was taken.");
        return TypedResults.Created($"/v1/apikeys/{keyId}", new ApiKeyCreatedResponse(keyId, ApiKeyFormat.Compose(keyId, secret)));
    }

    internal static async Task<Results<Ok<ApiKeyResponse>, ProblemHttpResult>> ValidateApiKey(ApiKeyValidateBody body, HttpContext context, IGrainFactory grains)
    {
        if (string.IsNullOrEmpty(body.ApiKey))
        {
            return ProblemResponses.Invalid(context, "apiKey", "apiKey is required.");
        }

        var info = await ApiKeyValidation.ValidateAsync(grains, body.ApiKey);
        CoordinatorDiagnostics.Decision("apikeys", info is not null);
        return info is null
            ? ProblemResponses.Result(context, ProblemResponses.InvalidApiKey())
            : TypedResults.Ok(ToResponse(info));
    }

    internal static async Task<Results<Ok<ApiKeyResponse>, ProblemHttpResult>> GetApiKey(string keyId, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryOpaqueId(keyId, "keyId", out var id, out var error))
        {
            return ProblemResponses.Invalid(context, "keyId", error);
        }

        var info = await grains.Get<IApiKeyGrain>(id).GetAsync();
        return info is null ? ApiKeyNotFound(context) : TypedResults.Ok(ToResponse(info));
    }

    internal static async Task<Results<NoContent, ProblemHttpResult>> RevokeApiKey(string keyId, HttpContext context, IGrainFactory grains)
    {
        if (!GrainKeys.TryOpaqueId(keyId, "keyId", out var id, out var error))
        {
            return ProblemResponses.Invalid(context, "keyId", error);
        }

        return await grains.Get<IApiKeyGrain>(id).RevokeAsync() ? TypedResults.NoContent() : ApiKeyNotFound(context);
    }

    private static ApiKeyResponse ToResponse(ApiKeyInfo info) => new(info.KeyId, info.Tenant, info.Name, info.Scopes, info.ExpiresAtMs, info.Revoked, info.CreatedAtMs);

    private static ProblemHttpResult SessionNotFound(HttpContext context)
        => ProblemResponses.Result(context, ProblemResponses.NotFound("session-not-found", "The session is unknown or has expired."));

    private static ProblemHttpResult ApiKeyNotFound(HttpContext context)
        => ProblemResponses.Result(context, ProblemResponses.NotFound("apikey-not-found", "No such API key."));
}

/// <summary>The replay guard's bounds as the gateway applies them (from the <c>Security</c> section).</summary>
public sealed class ReplayGuardSettings
{
    /// <summary>How long after a token's expiry its id is still refused.</summary>
    public TimeSpan JtiClockSkew { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest a token id is remembered; longer-lived tokens are refused.</summary>
    public TimeSpan JtiMaxLifetime { get; set; } = TimeSpan.FromHours(24);
}

/// <summary>Validates a presented API key against its grain.</summary>
public static class ApiKeyValidation
{
    /// <summary>The key's grants, or null when the key is malformed, unknown, wrong, revoked or expired.</summary>
    public static async Task<ApiKeyInfo?> ValidateAsync(IGrainFactory grains, string apiKey)
    {
        ArgumentNullException.ThrowIfNull(grains);
        return ApiKeyFormat.TryParse(apiKey, out var keyId, out var secret)
            ? await grains.Get<IApiKeyGrain>(keyId).ValidateAsync(secret)
            : null;
    }
}
