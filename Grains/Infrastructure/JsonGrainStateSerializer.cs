using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Storage;

namespace Orleans.Coordinator.Grains.Infrastructure;

/// <summary>
/// Stores grain state as plain camelCase JSON without CLR type names, so state stays readable in Redis
/// and survives renames of the state classes (Orleans' default JSON format embeds type names).
/// </summary>
public sealed class JsonGrainStateSerializer : IGrainStorageSerializer
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <inheritdoc/>
    public BinaryData Serialize<T>(T? input) => BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(input, Options));

    /// <inheritdoc/>
    public T Deserialize<T>(BinaryData input)
        => JsonSerializer.Deserialize<T>(input.ToMemory().Span, Options)
           ?? throw new JsonException($"Stored state for {typeof(T).Name} was null.");
}
