using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Orleans.Coordinator.Envoy.RateLimit;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Envoy;

/// <summary>
/// The HTTP side of the Envoy rate-limit service, as envoyproxy/ratelimit's HTTP port offers it: <c>POST /json</c>
/// takes a <c>RateLimitRequest</c> in proto3 JSON and answers the <c>RateLimitResponse</c> in proto3 JSON (200 when
/// OK, 429 when OVER_LIMIT); <c>GET /rlconfig</c> (admin) dumps the rules in force, one line per rule.
/// </summary>
public static class EnvoyJsonApi
{
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(false));
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    /// <summary>Maps <c>POST /json</c> (client) and <c>GET /rlconfig</c> (admin).</summary>
    public static IEndpointRouteBuilder MapEnvoyJsonApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/json", ShouldRateLimitAsync).RequireAuthorization(CoordinatorPolicies.Client).WithTags("Envoy rate limits")
            .WithName("ShouldRateLimitJson").WithSummary("ShouldRateLimit with the request and answer in proto3 JSON (200 OK, 429 OVER_LIMIT).")
            .Accepts<object>("application/json");
        app.MapGet("/rlconfig", (EnvoyRateLimitRules rules) => TypedResults.Text(rules.Current.Dump(), "text/plain; charset=utf-8"))
            .RequireAuthorization(CoordinatorPolicies.Admin).WithTags("Envoy rate limits")
            .WithName("DumpRateLimitConfig").WithSummary("The rate-limit rules in force, one line per rule.");
        return app;
    }

    private static async Task<IResult> ShouldRateLimitAsync(HttpContext context, IServiceProvider services)
    {
        RateLimitRequest request;
        try
        {
            var body = await Apis.TenantsApi.ReadBoundedAsync(context.Request, 1024 * 1024); // refuses more than 1 MiB and invalid UTF-8 (400)
            request = Parser.Parse<RateLimitRequest>(body);
        }
        catch (Grains.Interfaces.CoordinatorValidationException ex) when (ex.Field != "body")
        {
            return ProblemResponses.Invalid(context, "body", "The body must be at most 1 MiB.");
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            return ProblemResponses.Invalid(context, "body", $"The body must be a RateLimitRequest in proto3 JSON: {ex.Message}");
        }

        var service = ActivatorUtilities.CreateInstance<EnvoyRateLimitService>(services);
        RateLimitResponse response;
        try
        {
            response = await service.DecideAsync(request, headers =>
            {
                foreach (var header in headers)
                {
                    context.Response.Headers[header.Key] = header.Value;
                }

                return Task.CompletedTask;
            });
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument)
        {
            var field = ex.Status.Detail.Split(' ', 2)[0];
            return ProblemResponses.Invalid(context, field, ex.Status.Detail);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable)
        {
            return ProblemResponses.Result(context, ProblemResponses.Unavailable("The coordinator cluster is unavailable and the fallback cannot decide."));
        }

        return Results.Text(Formatter.Format(response), "application/json", Encoding.UTF8,
            response.OverallCode == RateLimitResponse.Types.Code.OverLimit ? StatusCodes.Status429TooManyRequests : StatusCodes.Status200OK);
    }
}
