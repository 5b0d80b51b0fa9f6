namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>The <c>Mappings</c> configuration section: route mapping defaults and caching.</summary>
public sealed class MappingOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Mappings";

    /// <summary>The destination of identifiers with no (or an empty) mapping.</summary>
    public string DefaultDestination { get; set; } = "default";

    /// <summary>How identifiers are normalised into keys.</summary>
    public IdentifierNormalization Normalization { get; set; } = IdentifierNormalization.LowerCase;

    /// <summary>How long a mapping grain trusts its cached copy before reading the store again.</summary>
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a gateway answers a lookup from its own copy (never longer than the grain's copy has left; 0 turns the
    /// gateway copy off). Writes through any gateway reach every gateway at once (pushed over Redis pub/sub); a
    /// gateway drops every copy while its Redis connection is broken. Default 5 s.
    /// </summary>
    public TimeSpan GatewayCacheTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How many routes a gateway keeps copies of (default 100,000; at most about 200 bytes each plus the key).</summary>
    public int GatewayCacheEntries { get; set; } = 100_000;

    /// <summary>Describes every problem with these options; empty when they are usable.</summary>
    public IEnumerable<string> Validate()
    {
        if (!GrainKeys.TryDestination(DefaultDestination, out _, out var error))
        {
            yield return $"Mappings:DefaultDestination is not valid: {error}";
        }

        if (!Enum.IsDefined(Normalization))
        {
            yield return "Mappings:Normalization must be LowerCase or None.";
        }

        if (CacheTtl < TimeSpan.Zero || CacheTtl > TimeSpan.FromHours(24))
        {
            yield return "Mappings:CacheTtl must be between 00:00:00 and 24:00:00.";
        }

        if (GatewayCacheTtl < TimeSpan.Zero || GatewayCacheTtl > TimeSpan.FromHours(1))
        {
            yield return "Mappings:GatewayCacheTtl must be between 00:00:00 and 01:00:00.";
        }

        if (GatewayCacheEntries is < 0 or > 10_000_000)
        {
            yield return "Mappings:GatewayCacheEntries must be between 0 and 10000000.";
        }
    }
}
