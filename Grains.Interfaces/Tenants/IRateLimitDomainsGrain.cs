using Orleans.Concurrency;

namespace Orleans.Coordinator.Grains.Interfaces.Tenants;

/// <summary>
/// One rate-limit domain written through the API: the envoyproxy/ratelimit configuration of that domain, kept as it
/// was sent.
/// </summary>
/// <param name="Domain">The domain (1 to <see cref="RateLimitDomainLimits.MaxDomainLength"/> characters).</param>
/// <param name="Text">The configuration: YAML, or its JSON form (at most <see cref="RateLimitDomainLimits.MaxDocumentBytes"/> bytes of UTF-8).</param>
/// <param name="MediaType"><c>application/yaml</c> or <c>application/json</c>: how <paramref name="Text"/> is written.</param>
/// <param name="Version">The domain's version, its ETag: the revision of the set that wrote it, so it never repeats, even across a delete or the loss of the stored set.</param>
[GenerateSerializer, Immutable, Alias("coordinator.RateLimitDomainDocument")]
public sealed record RateLimitDomainDocument(
    [property: Id(0)] string Domain,
    [property: Id(1)] string Text,
    [property: Id(2)] string MediaType,
    [property: Id(3)] long Version);

/// <summary>Every domain written through the API, at one revision of the set.</summary>
/// <param name="Revision">Grows with every change to any domain: the larger of the last revision plus one and the change's time in Unix ms; 0 before the first.</param>
/// <param name="Domains">The domains, ordered by name.</param>
[GenerateSerializer, Immutable, Alias("coordinator.RateLimitDomainSet")]
public sealed record RateLimitDomainSet([property: Id(0)] long Revision, [property: Id(1)] RateLimitDomainDocument[] Domains)
{
    /// <summary>No domains, revision 0.</summary>
    public static RateLimitDomainSet Empty { get; } = new(0, []);
}

/// <summary>Bounds on the rate-limit domains kept by <see cref="IRateLimitDomainsGrain"/>.</summary>
public static class RateLimitDomainLimits
{
    /// <summary>Longest domain name, in characters.</summary>
    public const int MaxDomainLength = 128;

    /// <summary>Largest configuration of one domain: 64 KiB of UTF-8.</summary>
    public const int MaxDocumentBytes = 64 * 1024;

    /// <summary>Most domains in the set.</summary>
    public const int MaxDomains = 256;

    /// <summary>Largest total of every domain's configuration: 1 MiB of UTF-8.</summary>
    public const int MaxTotalBytes = 1024 * 1024;

    /// <summary>Longest a <see cref="IRateLimitDomainsGrain.WatchAsync"/> call waits for a change.</summary>
    public static readonly TimeSpan MaxWatch = TimeSpan.FromSeconds(20);

    /// <summary>Checks a domain name: 1 to 128 characters, none of them a control character or a slash.</summary>
    public static bool TryDomain(string? domain, out string error)
    {
        error = string.Empty;
        if (string.IsNullOrEmpty(domain) || domain.Length > MaxDomainLength)
        {
            error = $"the domain must be 1 to {MaxDomainLength} characters.";
            return false;
        }

        foreach (var c in domain)
        {
            if (char.IsControl(c) || c == '/' || char.IsSurrogate(c))
            {
                error = "the domain must not hold control characters, slashes or characters outside the Basic Multilingual Plane.";
                return false;
            }
        }

        return true;
    }
}

/// <summary>
/// The rate-limit domains a fleet of gateways shares (key: <see cref="GrainKeys.RateLimitDomains"/>, one grain for the
/// whole deployment). Every acknowledged change is persisted before the answer (ETag-checked storage, so a duplicate
/// activation's write is retried against what the other wrote) and then handed to every gateway waiting in
/// <see cref="WatchAsync"/>: a change is pushed, not polled per request. The grain keeps the text as sent; gateways
/// validate it before writing and parse it when it arrives.
/// </summary>
[Alias("coordinator.IRateLimitDomainsGrain")]
public interface IRateLimitDomainsGrain : IGrainWithStringKey
{
    /// <summary>Every domain and the revision of the set.</summary>
    [Alias("GetAll"), AlwaysInterleave]
    Task<RateLimitDomainSet> GetAllAsync();

    /// <summary>
    /// Answers the set as soon as its revision differs from <paramref name="knownRevision"/>: at once when it already
    /// does, otherwise when the next change is written, or null after <paramref name="maxWait"/> (at most
    /// <see cref="RateLimitDomainLimits.MaxWatch"/>, 20 s) without a change.
    /// </summary>
    [Alias("Watch"), AlwaysInterleave, ResponseTimeout("00:00:25")]
    Task<RateLimitDomainSet?> WatchAsync(long knownRevision, TimeSpan maxWait);

    /// <summary>
    /// Creates or replaces a domain when <paramref name="precondition"/> holds (<c>Written</c> false, 412, otherwise;
    /// <c>Version</c> then the stored version, 0 for none). Throws <see cref="CoordinatorValidationException"/>
    /// (<c>domain</c> or <c>body</c>) for a bad name, a text over <see cref="RateLimitDomainLimits.MaxDocumentBytes"/>,
    /// or a set that would pass <see cref="RateLimitDomainLimits.MaxDomains"/> or
    /// <see cref="RateLimitDomainLimits.MaxTotalBytes"/>.
    /// </summary>
    [Alias("Put")]
    Task<TenantConfigWriteResult> PutAsync(string domain, string text, string mediaType, VersionPrecondition precondition);

    /// <summary>Deletes a domain when <paramref name="precondition"/> holds; <c>Version</c> 0 when there was none.</summary>
    [Alias("Delete")]
    Task<TenantConfigWriteResult> DeleteAsync(string domain, VersionPrecondition precondition);
}
