using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Orleans.Coordinator.Hosting;

/// <summary>
/// Every error this service answers, as RFC 9457 problem details with a stable <c>type</c> URI.
/// Bodies carry what a client needs (field, limit, retryAfterMs) and never a stack trace or a secret.
/// </summary>
public static class ProblemResponses
{
    /// <summary>Prefix of every problem type URI; the list is in docs/api.md.</summary>
    public const string TypePrefix = "urn:orleans-coordinator:problem:";

    /// <summary>400: a field is missing, malformed or out of range.</summary>
    public static ProblemDetails Validation(string field, string message)
    {
        var problem = Create(StatusCodes.Status400BadRequest, "validation", "The request is not valid.", message);
        problem.Extensions["field"] = field;
        problem.Extensions["errors"] = new Dictionary<string, string[]> { [field] = [message] };
        return problem;
    }

    /// <summary>401: no or a wrong bearer token.</summary>
    public static ProblemDetails Unauthorized()
        => Create(StatusCodes.Status401Unauthorized, "unauthorized", "A valid bearer token is required.",
            "Send Authorization: Bearer <token> with a configured client or admin token.");

    /// <summary>403: a client token on a management call.</summary>
    public static ProblemDetails Forbidden()
        => Create(StatusCodes.Status403Forbidden, "forbidden", "This call needs an admin token.", null);

    /// <summary>404: the named thing does not exist.</summary>
    public static ProblemDetails NotFound(string slug, string title, string? detail = null)
        => Create(StatusCodes.Status404NotFound, slug, title, detail);

    /// <summary>429: the user holds as many connections as allowed.</summary>
    public static ProblemDetails ConnectionLimit(int limit, int active, long retryAfterMs)
    {
        var problem = Create(StatusCodes.Status429TooManyRequests, "connection-limit", "The user is at the connection limit.",
            $"{active} of {limit} connections are in use.");
        problem.Extensions["limit"] = limit;
        problem.Extensions["active"] = active;
        problem.Extensions["remaining"] = Math.Max(0, limit - active);
        problem.Extensions["retryAfterMs"] = retryAfterMs;
        return problem;
    }

    /// <summary>429: the bytes do not fit in what is left of the window's budget.</summary>
    public static ProblemDetails ByteBudgetExhausted(long budget, long used, long remaining, long retryAfterMs, long resetAtMs)
    {
        var problem = Create(StatusCodes.Status429TooManyRequests, "byte-budget-exhausted", "The user's byte budget for this window is spent.",
            $"{remaining} of {budget} bytes remain in this window.");
        problem.Extensions["limit"] = budget;
        problem.Extensions["used"] = used;
        problem.Extensions["remaining"] = remaining;
        problem.Extensions["retryAfterMs"] = retryAfterMs;
        problem.Extensions["resetAtMs"] = resetAtMs;
        return problem;
    }

    /// <summary>429: a rate limit is reached; <paramref name="results"/> lists each check of a refused batch.</summary>
    public static ProblemDetails RateLimited(long limit, long remaining, long retryAfterMs, object? results)
    {
        var problem = Create(StatusCodes.Status429TooManyRequests, "rate-limited", "The rate limit is reached.",
            results is null ? $"{remaining} of {limit} remain." : "At least one check is over its limit; none was counted.");
        problem.Extensions["limit"] = limit;
        problem.Extensions["remaining"] = remaining;
        problem.Extensions["retryAfterMs"] = Math.Max(1, retryAfterMs);
        if (results is not null)
        {
            problem.Extensions["results"] = results;
        }

        return problem;
    }

    /// <summary>429: the tenant's token budget cannot hold the reservation.</summary>
    public static ProblemDetails TokenBudgetExhausted(long remaining, long resetAtMs, long retryAfterMs)
    {
        var problem = Create(StatusCodes.Status429TooManyRequests, "token-budget-exhausted", "The tenant's token budget cannot hold this reservation.",
            $"{remaining} tokens remain in this period.");
        problem.Extensions["remaining"] = remaining;
        problem.Extensions["resetAtMs"] = resetAtMs;
        problem.Extensions["retryAfterMs"] = Math.Max(1, retryAfterMs);
        return problem;
    }

    /// <summary>412: the <c>If-Match</c> version is not the stored one.</summary>
    public static ProblemDetails PreconditionFailed(long currentVersion)
    {
        var problem = Create(StatusCodes.Status412PreconditionFailed, "version-mismatch", "The document changed since you read it.",
            "Read it again and retry with the new ETag in If-Match.");
        problem.Extensions["currentVersion"] = currentVersion;
        return problem;
    }

    /// <summary>409: the request conflicts with what was already recorded.</summary>
    public static ProblemDetails Conflict(string slug, string title, string detail)
        => Create(StatusCodes.Status409Conflict, slug, title, detail);

    /// <summary>401: the presented API key is malformed, unknown, wrong, revoked or expired (deliberately not saying which).</summary>
    public static ProblemDetails InvalidApiKey()
        => Create(StatusCodes.Status401Unauthorized, "invalid-api-key", "The API key is not valid.",
            "The key is unknown, revoked or expired.");

    /// <summary>503: the grain cluster (or its storage) could not answer in time.</summary>
    public static ProblemDetails Unavailable(string detail)
        => Create(StatusCodes.Status503ServiceUnavailable, "unavailable", "The coordinator cluster is unavailable.", detail);

    /// <summary>500: an unexpected failure; the details are in the server log under the trace id.</summary>
    public static ProblemDetails Internal()
        => Create(StatusCodes.Status500InternalServerError, "internal", "An unexpected error occurred.",
            "The server log has the details under this response's traceId.");

    /// <summary>
    /// The problem for a bare status code written by the framework (no route, wrong method, wrong media type),
    /// so that even those answers are problem details with this service's type URIs.
    /// </summary>
    public static ProblemDetails ForStatusCode(int status) => status switch
    {
        StatusCodes.Status404NotFound => NotFound("not-found", "No such resource.", "See /openapi/v1.json for the API."),
        StatusCodes.Status405MethodNotAllowed => Create(status, "method-not-allowed", "The method is not allowed on this resource.", null),
        StatusCodes.Status415UnsupportedMediaType => WithStatus(Validation("body", "The body must be JSON (Content-Type: application/json)."), status),
        StatusCodes.Status401Unauthorized => Unauthorized(),
        StatusCodes.Status403Forbidden => Forbidden(),
        >= 500 => Internal(),
        _ => Create(status, "http-" + status.ToString(CultureInfo.InvariantCulture), "The request could not be served.", null),
    };

    /// <summary>A problem result; sets <c>Retry-After</c> (whole seconds, rounded up) when the problem carries <c>retryAfterMs</c>.</summary>
    public static ProblemHttpResult Result(HttpContext context, ProblemDetails problem)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(problem);
        SetRetryAfter(context, problem);
        return TypedResults.Problem(problem);
    }

    /// <summary>
    /// Reads an optional whole-number query parameter (<paramref name="fallback"/> when absent) within
    /// [<paramref name="min"/>, <paramref name="max"/>]; otherwise gives the 400 naming it.
    /// </summary>
    public static bool TryQueryNumber(HttpContext context, string field, string? raw, int fallback, int min, int max, out int value, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out ProblemHttpResult? invalid)
    {
        invalid = null;
        if (raw is null)
        {
            value = fallback;
            return true;
        }

        if (int.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value) && value >= min && value <= max)
        {
            return true;
        }

        invalid = Invalid(context, field, $"{field} must be a whole number between {min} and {max}.");
        return false;
    }

    /// <summary>The 400 result naming <paramref name="field"/>, for endpoint handlers.</summary>
    public static ProblemHttpResult Invalid(HttpContext context, string field, string message)
        => Result(context, Validation(field, message));

    /// <summary>Writes a problem directly to the response (for middleware and auth handlers).</summary>
    public static async Task WriteAsync(HttpContext context, ProblemDetails problem)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(problem);
        context.Response.StatusCode = problem.Status ?? StatusCodes.Status500InternalServerError;
        SetRetryAfter(context, problem);
        var service = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await service.WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem });
    }

    private static void SetRetryAfter(HttpContext context, ProblemDetails problem)
    {
        if (problem.Extensions.TryGetValue("retryAfterMs", out var value) && value is long ms)
        {
            var seconds = Math.Max(1, (ms + 999) / 1000);
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }
    }

    private static ProblemDetails WithStatus(ProblemDetails problem, int status)
    {
        problem.Status = status;
        return problem;
    }

    private static ProblemDetails Create(int status, string slug, string title, string? detail) => new()
    {
        Type = TypePrefix + slug,
        Title = title,
        Status = status,
        Detail = detail,
    };
}
