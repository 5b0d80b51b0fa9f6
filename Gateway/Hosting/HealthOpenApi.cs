using Microsoft.OpenApi;

namespace Orleans.Coordinator.Hosting;

/// <summary>The gateway's OpenAPI description of <c>/healthz</c> and <c>/readyz</c>.</summary>
internal static class HealthOpenApi
{
    /// <summary>
    /// Adds <c>/healthz</c> and <c>/readyz</c> to the OpenAPI document (health-check endpoints are not route handlers, so
    /// the document would not list them by itself).
    /// </summary>
    public static void Describe(OpenApiDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        document.Paths ??= [];
        document.Paths["/healthz"] = Operation(document, "Healthz", "The process is alive.", scope: false);
        document.Paths["/readyz"] = Operation(document, "Readyz",
            "The cluster and Redis answer (?scope=data-plane: either does); reports the mode, the breakers and each dependency's latency.", scope: true);
    }

    private static OpenApiPathItem Operation(OpenApiDocument document, string id, string summary, bool scope)
    {
        var operation = new OpenApiOperation
        {
            OperationId = id,
            Summary = summary,
            Tags = new HashSet<OpenApiTagReference> { new("Health", document) },
            Responses = new OpenApiResponses
            {
                ["200"] = new OpenApiResponse { Description = scope ? "Ready: a ReadinessReport." : "Alive: {\"status\":\"ok\"}." },
            },
        };
        if (scope)
        {
            operation.Responses["503"] = new OpenApiResponse { Description = "Not ready: a ReadinessReport saying which dependency does not answer." };
            operation.Parameters =
            [
                new OpenApiParameter
                {
                    Name = "scope",
                    In = ParameterLocation.Query,
                    Description = "data-plane: ready while the cluster or Redis answers (the fallback can still enforce limits).",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                },
            ];
        }

        return new OpenApiPathItem { Operations = new() { [HttpMethod.Get] = operation } };
    }
}
