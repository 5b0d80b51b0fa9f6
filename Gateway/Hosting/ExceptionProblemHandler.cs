using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Runtime;

namespace Orleans.Coordinator.Hosting;

/// <summary>
/// Turns every exception that reaches the pipeline into problem details: bad bodies into 400 naming the
/// field, grain validation into 400, an unreachable cluster or store into 503, anything else into a
/// 500 that says only where to look. Stack traces go to the log, never to the client.
/// </summary>
internal sealed partial class ExceptionProblemHandler(ILogger<ExceptionProblemHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var problem = exception switch
        {
            BadHttpRequestException bad => FromBadRequest(bad),
            // A JSON value kept as it came (JsonElement) is transcoded when first read: invalid UTF-8 surfaces here.
            InvalidOperationException { InnerException: System.Text.DecoderFallbackException } => ProblemResponses.Validation("body", "The body is not valid UTF-8 JSON."),
            CoordinatorValidationException validation => ProblemResponses.Validation(validation.Field, validation.Message),
            DependencyDownException down => ProblemResponses.Unavailable(down.Dependency == "redis"
                ? "Redis could not be reached, and this feature fails closed without it."
                : "The coordinator cluster could not be reached, and this feature fails closed without it."),
            TimeoutException => ProblemResponses.Unavailable("The coordinator cluster did not answer in time."),
            CoordinatorUnavailableException => ProblemResponses.Unavailable("The coordinator's storage could not be reached."),
            _ when StorageFailures.Is(exception) => ProblemResponses.Unavailable("The coordinator's storage could not be reached."),
            OrleansException => ProblemResponses.Unavailable("The coordinator cluster could not be reached."),
            _ => null,
        };

        if (problem is null)
        {
            LogUnhandled(logger, httpContext.Request.Method, httpContext.Request.Path, exception);
            problem = ProblemResponses.Internal();
        }
        else if (problem.Status >= 500)
        {
            LogUnavailable(logger, httpContext.Request.Method, httpContext.Request.Path, exception.GetType().Name, exception.Message);
        }

        await ProblemResponses.WriteAsync(httpContext, problem);
        return true;
    }

    private static Microsoft.AspNetCore.Mvc.ProblemDetails FromBadRequest(BadHttpRequestException exception)
    {
        if (exception.InnerException is JsonException json)
        {
            var field = FieldFromJsonPath(json.Path);
            return ProblemResponses.Validation(field, field == "body"
                ? "The body is not valid JSON."
                : $"{field} has the wrong type or is not valid JSON.");
        }

        var problem = ProblemResponses.Validation("body", exception.StatusCode == StatusCodes.Status415UnsupportedMediaType
            ? "The body must be JSON (Content-Type: application/json)."
            : "The body is missing or could not be read.");
        problem.Status = exception.StatusCode;
        return problem;
    }

    /// <summary><c>$.ttlMs</c> becomes <c>ttlMs</c>; <c>$</c> or nothing becomes <c>body</c>.</summary>
    internal static string FieldFromJsonPath(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return "body";
        }

        var field = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        return field.Length == 0 ? "body" : field;
    }


    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error on {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path} answered 503: {ExceptionType}: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string method, string path, string exceptionType, string reason);
}
