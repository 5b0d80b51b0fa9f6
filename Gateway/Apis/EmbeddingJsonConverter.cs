using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orleans.Coordinator.Apis;

/// <summary>
/// Reads an embedding written either as a JSON array of numbers or as a base64 string of little-endian float32 values
/// (4 bytes each), the form OpenAI's embeddings API answers with <c>encoding_format: "base64"</c>: a 1,536-number
/// embedding is 8 KiB of base64 instead of about 16 KiB of decimal numbers, and is decoded without parsing a number.
/// Writes an array of numbers. Raises <see cref="JsonException"/> for a string that is not base64 or whose length in
/// bytes is not a multiple of 4.
/// </summary>
public sealed class EmbeddingJsonConverter : JsonConverter<float[]>
{
    /// <inheritdoc />
    public override float[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                byte[] bytes;
                try
                {
                    bytes = reader.GetBytesFromBase64();
                }
                catch (FormatException)
                {
                    throw new JsonException("The embedding string is not base64 (little-endian float32 values).");
                }

                if (bytes.Length % 4 != 0)
                {
                    throw new JsonException("The base64 embedding must decode to whole float32 values (a multiple of 4 bytes).");
                }

                var values = new float[bytes.Length / 4];
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4, 4));
                }

                return values;
            case JsonTokenType.StartArray:
                var list = new List<float>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    // Numbers, or numbers in strings (the web defaults' AllowReadingFromString, kept for arrays).
                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetSingle(out var value))
                    {
                        list.Add(value);
                    }
                    else if (reader.TokenType == JsonTokenType.String
                        && float.TryParse(reader.GetString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out value))
                    {
                        list.Add(value);
                    }
                    else
                    {
                        throw new JsonException("The embedding must hold numbers.");
                    }
                }

                return [.. list];
            default:
                throw new JsonException("The embedding must be an array of numbers or a base64 string of float32 values.");
        }
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, float[] value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var x in value)
        {
            writer.WriteNumberValue(x);
        }

        writer.WriteEndArray();
    }
}
