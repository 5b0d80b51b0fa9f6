namespace Orleans.Coordinator.Grains.Interfaces;

/// <summary>
/// A store the grains depend on (Redis) could not be reached. Grains raise this instead of the client
/// library's own exception, which cannot cross the wire; the gateway answers it with 503.
/// </summary>
[GenerateSerializer, Alias("coordinator.CoordinatorUnavailableException")]
public sealed class CoordinatorUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CoordinatorUnavailableException(string message)
        : base(message)
    {
    }
}
