namespace Orleans.Coordinator.Grains.Interfaces.Identity;

/// <summary>
/// One shared session (key: a 128-bit random id from <see cref="GrainKeys.NewOpaqueId"/>). Data is encrypted
/// at rest with AES-GCM bound to the session id; every acknowledged write is persisted first.
/// </summary>
[Alias("coordinator.ISessionGrain")]
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>Creates the session; returns its expiry, or null when the id is already taken.</summary>
    [Alias("Create")]
    Task<long?> CreateAsync(SessionCreateRequest request);

    /// <summary>The session (sliding its expiry when sliding), or null when unknown or expired.</summary>
    [Alias("Get")]
    Task<SessionSnapshot?> GetAsync();

    /// <summary>Replaces the data; null when unknown or expired, else the expiry.</summary>
    [Alias("PutData")]
    Task<long?> PutDataAsync(string dataJson);

    /// <summary>Ends the session; false when it was not live.</summary>
    [Alias("End")]
    Task<bool> EndAsync();

    /// <summary>Ends the session on behalf of its subject's index (does not call the index back).</summary>
    [Alias("EndForSubject")]
    Task EndForSubjectAsync();
}

/// <summary>The live session ids of one subject (key: the subject), for "log out everywhere".</summary>
[Alias("coordinator.ISubjectSessionsGrain")]
public interface ISubjectSessionsGrain : IGrainWithStringKey
{
    /// <summary>Records a session; it is forgotten after <paramref name="forgetAfterMs"/>, its latest possible expiry.</summary>
    [Alias("Add")]
    Task AddAsync(string sessionId, long forgetAfterMs);

    /// <summary>Forgets a session.</summary>
    [Alias("Remove")]
    Task RemoveAsync(string sessionId);

    /// <summary>Ends every session of the subject; returns how many were recorded.</summary>
    [Alias("EndAll")]
    Task<int> EndAllAsync();
}

/// <summary>
/// The replay guard of one token (key: <see cref="GrainKeys.Jti"/>). A first use is acknowledged only once
/// an atomic set-if-absent in the store succeeded, so duplicate activations cannot both say "first use".
/// </summary>
[Alias("coordinator.IJtiReplayGuardGrain")]
public interface IJtiReplayGuardGrain : IGrainWithStringKey
{
    /// <summary>Records the token until <paramref name="refuseUntilMs"/>; first use or not.</summary>
    [Alias("Check")]
    Task<JtiCheckResult> CheckAsync(long refuseUntilMs);
}

/// <summary>One API key (key: the key id). Only an HMAC of its secret is stored.</summary>
[Alias("coordinator.IApiKeyGrain")]
public interface IApiKeyGrain : IGrainWithStringKey
{
    /// <summary>Creates the key and returns its secret (shown once); null when the id is taken.</summary>
    [Alias("Create")]
    Task<string?> CreateAsync(ApiKeyCreateRequest request);

    /// <summary>The key's grants when <paramref name="secret"/> matches and it is neither revoked nor expired.</summary>
    [Alias("Validate")]
    Task<ApiKeyInfo?> ValidateAsync(string secret);

    /// <summary>The key's description (never the secret), or null when unknown.</summary>
    [Alias("Get")]
    Task<ApiKeyInfo?> GetAsync();

    /// <summary>Revokes the key; false when unknown.</summary>
    [Alias("Revoke")]
    Task<bool> RevokeAsync();
}
