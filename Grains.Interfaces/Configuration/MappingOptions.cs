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
    }
}
