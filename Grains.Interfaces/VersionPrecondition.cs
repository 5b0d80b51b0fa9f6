namespace Orleans.Coordinator.Grains.Interfaces;

/// <summary>What a conditional request asks of a versioned resource: proceed, fail (412), or not modified (304).</summary>
public enum PreconditionOutcome
{
    /// <summary>Every condition holds: perform the method.</summary>
    Proceed = 0,

    /// <summary>A condition is false: 412 Precondition Failed, nothing is changed.</summary>
    Failed = 1,

    /// <summary><c>If-None-Match</c> matched on a GET or HEAD: 304 Not Modified.</summary>
    NotModified = 2,
}

/// <summary>
/// One entity-tag header (<c>If-Match</c> or <c>If-None-Match</c>) as versions: <c>*</c>, or the list of tags whose
/// opaque value is a version this service issued (<c>"3"</c>), split into strong and weak (<c>W/"3"</c>) tags. Tags
/// that name no version (<c>"abc"</c>) are kept out: they can never match.
/// </summary>
/// <param name="Any">The header was <c>*</c>.</param>
/// <param name="Strong">Versions named by strong tags.</param>
/// <param name="Weak">Versions named by weak tags.</param>
[GenerateSerializer, Immutable, Alias("coordinator.VersionMatch")]
public sealed record VersionMatch([property: Id(0)] bool Any, [property: Id(1)] long[] Strong, [property: Id(2)] long[] Weak)
{
    /// <summary>Strong comparison (RFC 9110 section 8.8.3.2), as <c>If-Match</c> uses: weak tags never match.</summary>
    public bool MatchesStrongly(long version) => version > 0 && (Any || Array.IndexOf(Strong, version) >= 0);

    /// <summary>Weak comparison, as <c>If-None-Match</c> uses: <c>W/"3"</c> and <c>"3"</c> both match version 3.</summary>
    public bool MatchesWeakly(long version) => version > 0 && (Any || Array.IndexOf(Strong, version) >= 0 || Array.IndexOf(Weak, version) >= 0);
}

/// <summary>
/// The preconditions of a request on a resource versioned 1, 2, 3, ... (0: it does not exist), evaluated as
/// RFC 9110 section 13.2.2 orders them: <c>If-Match</c> first (false: 412); then <c>If-None-Match</c> (true for a
/// match: 304 on GET and HEAD, 412 otherwise). <c>If-Match: *</c> needs the resource to exist, <c>If-None-Match: *</c>
/// needs it not to. The grain that owns the resource evaluates it, so the check and the write are one step.
/// </summary>
/// <param name="IfMatch">The <c>If-Match</c> header, or null when absent.</param>
/// <param name="IfNoneMatch">The <c>If-None-Match</c> header, or null when absent.</param>
[GenerateSerializer, Immutable, Alias("coordinator.VersionPrecondition")]
public sealed record VersionPrecondition([property: Id(0)] VersionMatch? IfMatch, [property: Id(1)] VersionMatch? IfNoneMatch)
{
    /// <summary>No conditions: always proceed.</summary>
    public static VersionPrecondition None { get; } = new(null, null);

    /// <summary>Evaluates against the current version (0: no resource) for a safe (GET/HEAD) or unsafe method.</summary>
    public PreconditionOutcome Evaluate(long currentVersion, bool safeMethod)
    {
        if (IfMatch is not null && !IfMatch.MatchesStrongly(currentVersion))
        {
            return PreconditionOutcome.Failed;
        }

        if (IfNoneMatch is not null && IfNoneMatch.MatchesWeakly(currentVersion))
        {
            return safeMethod ? PreconditionOutcome.NotModified : PreconditionOutcome.Failed;
        }

        return PreconditionOutcome.Proceed;
    }
}
