namespace Orleans.Coordinator.Grains.Interfaces;

/// <summary>
/// A request to a grain was malformed or out of range. The gateway answers it with 400 problem details
/// naming <see cref="Field"/>; internal callers get it as an ordinary exception.
/// </summary>
[GenerateSerializer, Alias("coordinator.CoordinatorValidationException")]
public sealed class CoordinatorValidationException : Exception
{
    /// <summary>Creates the exception for one field.</summary>
    public CoordinatorValidationException(string field, string message)
        : base(message)
    {
        Field = field;
    }

    /// <summary>The request field that was wrong (camelCase, as in the HTTP API).</summary>
    [Id(0)]
    public string Field { get; }
}
