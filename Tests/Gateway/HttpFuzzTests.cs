using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

/// <summary>
/// Bounded, seeded fuzzing of every HTTP route the OpenAPI document lists: boundary and random values in every
/// path parameter and body field (by the field's schema type, and of the wrong type), whole-body oddities (empty,
/// deep, oversized, not UTF-8, not JSON) and odd conditional headers. Only documented answers may come back:
/// 2xx, 304, or a problem document with a 4xx status (400 naming a field); never a 5xx on this healthy gateway, never
/// a stack trace. A normal request still works afterwards.
/// </summary>
[Collection(FuzzGatewayCollection.Name)]
public sealed class HttpFuzzTests(FuzzGatewayFixture fixture, ITestOutputHelper output)
{
    private const int Seed = 1313;
    private const int CasesPerRoute = 120;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);

    /// <summary>Statuses the API documents (README, Errors): anything else is a fault.</summary>
    private static readonly HashSet<int> Documented = [200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 412, 413, 414, 415, 429, 431];

    private static readonly string[] Integers =
    [
        "0", "1", "-1", "2", "999", "1000", "60000", "86400000", "2147483647", "2147483648", "-2147483648", "-2147483649",
        "4294967295", "4294967296", "1099511627776", "9007199254740993", "9223372036854775806", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808", "99999999999999999999999", "1e400", "1.5", "-0", "1e3",
        "\"12\"", "\"-5\"", "\"abc\"", "\"\"", "true", "[]", "{}", "null",
    ];

    private static readonly string[] Doubles = ["0", "1e-12", "5e-324", "1e308", "-1", "0.5", "2.5", "1e-3", "4294967295", "\"NaN\"", "\"Infinity\"", "1e400", "null"];

    private static readonly string[] Booleans = ["true", "false", "\"true\"", "0", "1", "null"];

    private readonly Random _random = new(Seed);

    [Fact(Timeout = 120_000)]
    public async Task EveryRoute_BoundaryAndRandomInput_GetsOnlyDocumentedAnswers()
    {
        // Arrange: the routes as the OpenAPI document lists them.
        var document = await (await fixture.Admin.GetAsync("/openapi/v1.json", TestContext.Current.CancellationToken)).JsonAsync();
        var schemas = document.GetProperty("components").GetProperty("schemas");
        var routes = document.GetProperty("paths").EnumerateObject()
            .Where(p => p.Name.StartsWith("/v1/", StringComparison.Ordinal) || p.Name == "/readyz")
            .SelectMany(p => p.Value.EnumerateObject().Select(op => (Path: p.Name, Method: op.Name.ToUpperInvariant(), Operation: op.Value)))
            .ToList();
        Assert.True(routes.Count >= 40, $"the OpenAPI document lists {routes.Count} routes");

        Assert.Equal(HttpStatusCode.OK, (await fixture.Admin.PutJsonAsync("/v1/tenants/fz-t/policies/fz-p", new { algorithm = "fixedWindow", limit = 100_000, windowMs = 60_000 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.Admin.PutJsonAsync("/v1/tenants/fz-t/tokens/budget", new { budget = 1_000_000, period = "day" })).StatusCode);

        // Act: cases per route, built from one seeded stream, sent 8 at a time.
        var cases = new List<(string Method, string Route, string Url, HttpContent? Body, (string, string)[] Headers)>();
        foreach (var (path, method, operation) in routes)
        {
            for (var i = 0; i < CasesPerRoute; i++)
            {
                var (m, url, body, headers) = BuildCase(path, method, operation, schemas, cases.Count);
                cases.Add((m, path, url, body, headers));
            }
        }

        var clock = Stopwatch.StartNew();
        var faults = new System.Collections.Concurrent.ConcurrentBag<string>();
        var sent = 0;
        var closedEarly = 0;
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = TestContext.Current.CancellationToken }, async (c, ct) =>
        {
            if (clock.Elapsed > Budget)
            {
                return;
            }

            using var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Url) { Content = c.Body };
            foreach (var (name, value) in c.Headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }

            // Headers first: a Server-Sent Events stream (a task's events) stays open; its 200 and media type are the answer.
            HttpResponseMessage response;
            try
            {
                response = await fixture.Admin.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            }
            catch (HttpRequestException ex) when (ex.InnerException is IOException && c.Body is not null)
            {
                // The server answered (and closed) before reading a body its route does not take; the client was still
                // writing it. Counted, bounded below, and the service must still serve afterwards.
                Interlocked.Increment(ref closedEarly);
                return;
            }

            using var _ = response;
            Interlocked.Increment(ref sent);
            statuses.AddOrUpdate($"{c.Method} {c.Route} {(int)response.StatusCode}", 1, (_, n) => n + 1);
            var stream = response.StatusCode == HttpStatusCode.OK && response.Content.Headers.ContentType?.MediaType == "text/event-stream";
            var fault = KestrelRefusal(c.Url, response) || stream ? null : await FaultOfAsync(response, ct);
            if (fault is not null)
            {
                faults.Add($"{c.Method} {Shorten(c.Url)} {Shorten(c.Body is null ? "" : await c.Body.ReadAsStringAsync(ct))}: {fault}");
            }
        });

        // Assert: only documented answers, and the service still serves.
        output.WriteLine($"{sent} requests over {routes.Count} routes in {clock.Elapsed.TotalSeconds:0.0} s (seed {Seed}).");
        foreach (var (answer, count) in statuses.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {answer}: {count}");
        }

        // Every route was reached past validation at least once (a 2xx, 404 or 409 comes from the grains).
        foreach (var (path, method, _) in routes)
        {
            Assert.True(statuses.Keys.Any(k => k.StartsWith($"{method} {path} ", StringComparison.Ordinal) && !k.EndsWith(" 400", StringComparison.Ordinal)),
                $"{method} {path}: every case was refused as invalid; the fuzzer never reached its logic");
        }

        Assert.True(closedEarly <= sent / 100, $"{closedEarly} connections closed while a body was being sent, of {sent} requests");
        Assert.True(faults.IsEmpty, $"{faults.Count} undocumented answers, e.g.:{Environment.NewLine}{string.Join(Environment.NewLine, faults.Take(15))}");
        Assert.True(sent >= routes.Count * 10, $"only {sent} requests were sent within {Budget.TotalSeconds} s");
        var user = TestKeys.User("after-fuzz");
        var lease = await fixture.Admin.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p1" });
        Assert.Equal(HttpStatusCode.Created, lease.StatusCode);
    }

    /// <summary>
    /// Kestrel refuses a request target holding a NUL (<c>%00</c>) with a bare 400 before any of our code runs; the
    /// README documents it. Only that refusal, for only such a target, is accepted without problem details.
    /// </summary>
    private static bool KestrelRefusal(string url, HttpResponseMessage response)
        => response.StatusCode == HttpStatusCode.BadRequest && url.Contains("%00", StringComparison.Ordinal) && response.Content.Headers.ContentLength is null or 0;

    private static async Task<string?> FaultOfAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!Documented.Contains(status))
        {
            return $"status {status}: {Shorten(text)}";
        }

        if (text.Contains("   at ", StringComparison.Ordinal) || text.Contains("Exception", StringComparison.Ordinal))
        {
            return $"a stack trace or exception name in the body: {Shorten(text)}";
        }

        if (status >= 400)
        {
            if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
            {
                return $"status {status} without problem details ({response.Content.Headers.ContentType})";
            }

            using var problem = JsonDocument.Parse(text);
            if (!problem.RootElement.TryGetProperty("type", out var type) || !type.GetString()!.StartsWith("urn:orleans-coordinator:problem:", StringComparison.Ordinal))
            {
                return $"status {status} with a problem type outside the catalogue: {Shorten(text)}";
            }

            if (status == 400 && !problem.RootElement.TryGetProperty("field", out _))
            {
                return $"a 400 that names no field: {Shorten(text)}";
            }
        }

        return null;
    }

    private (string Method, string Url, HttpContent? Body, (string, string)[] Headers) BuildCase(
        string path, string method, JsonElement operation, JsonElement schemas, int number)
    {
        var url = new StringBuilder();
        foreach (var segment in path.Split('/'))
        {
            if (url.Length > 0 || segment.Length > 0)
            {
                url.Append('/');
            }

            url.Append(segment.StartsWith('{') ? Uri.EscapeDataString(PathValue(number)) : segment);
        }

        if (operation.TryGetProperty("parameters", out var parameters))
        {
            var query = parameters.EnumerateArray().Where(p => p.GetProperty("in").GetString() == "query").Select(p => p.GetProperty("name").GetString()!).ToList();
            if (query.Count > 0 && _random.Next(2) == 0)
            {
                url.Append('?').AppendJoin('&', query.Select(q => $"{q}={Uri.EscapeDataString(PathValue(number))}"));
            }
        }

        var headers = new List<(string, string)>();
        if (_random.Next(6) == 0)
        {
            headers.Add((_random.Next(2) == 0 ? "If-Match" : "If-None-Match", Pick(["*", "\"1\"", "W/\"1\"", "\"0\", \"1\"", "1", "\"", "*, \"1\"", "\"" + new string('9', 40) + "\"", ""])));
        }

        HttpContent? body = null;
        if (operation.TryGetProperty("requestBody", out var requestBody))
        {
            var schema = requestBody.GetProperty("content").EnumerateObject().First().Value.GetProperty("schema");
            body = _random.Next(10) switch
            {
                0 => OddBody(),
                1 or 2 => Json(Value(schema, schemas, depth: 0)), // every field fuzzed
                _ => Json(Mutated(schema, schemas)), // a valid body with one or two fields fuzzed, or none
            };
        }
        else if (method is "POST" or "PUT" && _random.Next(4) == 0)
        {
            body = OddBody();
        }

        return (method, url.ToString(), body, [.. headers]);
    }

    /// <summary>Valid values by field name, so a case can change one field of an otherwise valid body.</summary>
    private static readonly Dictionary<string, string[]> ValidValues = new(StringComparer.Ordinal)
    {
        ["instanceId"] = ["\"proxy-1\"", "\"proxy-2\""],
        ["ttlMs"] = ["60000", "1000", "86400000"],
        ["bytes"] = ["100", "0", "1099511627776"],
        ["maxConnections"] = ["5", "0", "100000"],
        ["byteBudget"] = ["1000", "0"],
        ["budgetWindowMs"] = ["60000", "1000"],
        ["destination"] = ["\"dest-1\"", "\"10.0.0.5:993\""],
        ["algorithm"] = ["\"fixedWindow\"", "\"slidingWindow\"", "\"tokenBucket\""],
        ["limit"] = ["10", "1", "4294967295"],
        ["windowMs"] = ["1000", "100", "31622400000"],
        ["refillPerSecond"] = ["1.5", "4294967295", "0.001"],
        ["shadow"] = ["false", "true"],
        ["budget"] = ["1000", "0", "1000000000000"],
        ["period"] = ["\"day\"", "\"month\""],
        ["tokens"] = ["10", "1"],
        ["reservationId"] = ["\"0123456789abcdef0123456789abcdef\"", "\"fb-0123456789abcdef0123456789abcdef\""],
        ["actualTokens"] = ["5", "0"],
        ["tenant"] = ["\"fz-t\""],
        ["policy"] = ["\"fz-p\""],
        ["key"] = ["\"k1\"", "\"/path/a?b=1\""],
        ["cost"] = ["1", "0", "4294967295"],
        ["checks"] = ["[{\"tenant\":\"fz-t\",\"policy\":\"fz-p\",\"key\":\"a\"},{\"tenant\":\"fz-t\",\"policy\":\"fz-p\",\"key\":\"a\",\"cost\":2}]"],
        ["subject"] = ["\"alice\""],
        ["data"] = ["{\"a\":1}", "null", "[1,2]", "\"artifact text\""],
        ["state"] = ["\"working\"", "\"input-required\"", "\"completed\""],
        ["contextId"] = ["\"fz-c\""],
        ["sliding"] = ["true", "false"],
        ["jti"] = ["\"jti-{n}\""],
        ["issuer"] = ["\"https://idp.example\""],
        ["expiresAtMs"] = ["{now+60000}"],
        ["name"] = ["\"key-1\""],
        ["scopes"] = ["[\"read\",\"write\"]", "[]"],
        ["apiKey"] = ["\"ock_0123456789abcdef0123456789abcdef_secret\""],
        ["owner"] = ["\"owner-1\""],
        ["fencingToken"] = ["1", "2"],
        ["waitMs"] = ["0"],
        ["role"] = ["\"proxy\""],
        ["address"] = ["\"10.0.0.1:5000\""],
        ["version"] = ["\"1.0\""],
        ["metadata"] = ["{\"zone\":\"a\"}", "{}"],
        ["agent"] = ["\"agent-1\""],
        ["action"] = ["\"refund\"", "\"tool.call\""],
        ["payload"] = ["{\"amount\":10}", "{}"],
        ["expiresInMs"] = ["60000", "1000"],
        ["sessionId"] = ["\"s-1\""],
    };

    private int _bodies;

    /// <summary>A valid body (by <see cref="ValidValues"/>) with none, one or two fields replaced by a fuzz value or left out.</summary>
    private string Mutated(JsonElement schema, JsonElement schemas)
    {
        while (schema.TryGetProperty("$ref", out var reference) || schema.TryGetProperty("oneOf", out _))
        {
            schema = schema.TryGetProperty("$ref", out reference)
                ? schemas.GetProperty(reference.GetString()!.Split('/')[^1])
                : schema.GetProperty("oneOf").EnumerateArray().First(o => o.TryGetProperty("$ref", out _));
        }

        if (!schema.TryGetProperty("properties", out var properties))
        {
            return Value(schema, schemas, depth: 0);
        }

        var names = properties.EnumerateObject().Select(p => p.Name).ToList();
        var mutated = Enumerable.Range(0, _random.Next(3)).Select(_ => names[_random.Next(names.Count)]).ToHashSet(StringComparer.Ordinal);
        var fields = new List<string>();
        var n = Interlocked.Increment(ref _bodies);
        foreach (var property in properties.EnumerateObject())
        {
            if (mutated.Contains(property.Name))
            {
                if (_random.Next(4) > 0)
                {
                    fields.Add($"{JsonSerializer.Serialize(property.Name)}:{Value(property.Value, schemas, depth: 1)}");
                }
            }
            else if (ValidValues.TryGetValue(property.Name, out var valid))
            {
                var value = Pick(valid)
                    .Replace("{n}", n.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
                    .Replace("{now+60000}", (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 60_000).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
                fields.Add($"{JsonSerializer.Serialize(property.Name)}:{value}");
            }
        }

        return "{" + string.Join(',', fields) + "}";
    }

    /// <summary>A path or query value: usually valid and unique to the case, else a boundary or hostile string.</summary>
    private string PathValue(int number) => _random.Next(14) switch
    {
        < 7 => $"fz{number}-{_random.Next(1000)}",
        7 => "fz-t",
        8 => HexId(),
        9 => Pick(["", " ", "a b", "/", "..", "%", "\0", "\n", "ünïcode", "\u202e", "😀", "a\\b", "*", "?", "#"]),
        10 => new string('a', Pick([63, 64, 65, 127, 128, 129, 255, 256, 257, 1024, 4000])),
        11 => Pick(["~!@+=:", ".", "-", "_", "0", "-1", "9223372036854775808"]) + number,
        _ => Random(_random.Next(1, 40)),
    };

    private string Value(JsonElement schema, JsonElement schemas, int depth)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            return Value(schemas.GetProperty(reference.GetString()!.Split('/')[^1]), schemas, depth);
        }

        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            var options = oneOf.EnumerateArray().ToList();
            return Value(options[_random.Next(options.Count)], schemas, depth);
        }

        var types = schema.TryGetProperty("type", out var type)
            ? type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList() : [type.GetString()!]
            : ["object"];
        types.Remove("null");
        if (types.Count > 1 && types.Contains("string") && (types.Contains("integer") || types.Contains("number")))
        {
            types.Remove("string"); // numbers that may also come as strings: the number pools hold both
        }

        // One case in ten gets a value of another type than the schema says.
        var kind = _random.Next(10) == 0 ? Pick(["integer", "number", "string", "boolean", "array", "object", "null"]) : types.FirstOrDefault("object");
        return kind switch
        {
            "integer" => Pick(Integers),
            "number" => Pick(Doubles),
            "boolean" => Pick(Booleans),
            "string" => StringValue(),
            "array" => ArrayValue(schema, schemas, depth),
            "null" => "null",
            _ => ObjectValue(schema, schemas, depth),
        };
    }

    private string ObjectValue(JsonElement schema, JsonElement schemas, int depth)
    {
        if (depth > 3)
        {
            return "{}";
        }

        var fields = new List<string>();
        if (schema.TryGetProperty("properties", out var properties))
        {
            foreach (var property in properties.EnumerateObject())
            {
                if (_random.Next(5) > 0)
                {
                    fields.Add($"{JsonSerializer.Serialize(property.Name)}:{Value(property.Value, schemas, depth + 1)}");
                }
            }
        }
        else
        {
            // A free-form object (metadata, session data, a configuration document).
            var count = Pick([0, 1, 3, 50, 600]);
            for (var i = 0; i < count; i++)
            {
                fields.Add($"{JsonSerializer.Serialize(Random(_random.Next(1, 12)))}:{(_random.Next(3) == 0 ? Pick(Integers) : StringValue())}");
            }
        }

        if (_random.Next(6) == 0)
        {
            fields.Add("\"unknownField\":{\"nested\":[1,2,3]}");
        }

        return "{" + string.Join(',', fields) + "}";
    }

    private string ArrayValue(JsonElement schema, JsonElement schemas, int depth)
    {
        var count = Pick([0, 1, 2, 16, 63, 64, 65, 300]);
        var items = schema.TryGetProperty("items", out var itemSchema) ? itemSchema : default;
        var values = Enumerable.Range(0, count).Select(_ => items.ValueKind == JsonValueKind.Undefined ? StringValue() : _random.Next(20) == 0 ? "null" : Value(items, schemas, depth + 1));
        return "[" + string.Join(',', values) + "]";
    }

    private string StringValue() => JsonSerializer.Serialize(_random.Next(9) switch
    {
        0 => "",
        1 => new string('x', Pick([64, 128, 129, 256, 257, 1024, 4096, 70_000])),
        2 => "a\u0000b\nc\td",
        3 => "ünïcode 😀 \u202e",
        4 => Pick(["fixedWindow", "slidingWindow", "tokenBucket", "day", "month", "proxy-1", "alice", "https://idp.example", "dest-1", "approve"]),
        5 => Pick(["1", "-1", "9223372036854775808", "null", "true", "{}", "[]"]),
        6 => "ock_" + HexId() + "_" + Random(20),
        _ => Random(_random.Next(1, 50)),
    });

    private HttpContent OddBody() => _random.Next(10) switch
    {
        0 => new StringContent("", Encoding.UTF8, "application/json"),
        1 => new StringContent("null", Encoding.UTF8, "application/json"),
        2 => new StringContent("[]", Encoding.UTF8, "application/json"),
        3 => new StringContent("{\"a\":", Encoding.UTF8, "application/json"),
        4 => new StringContent(new string('[', 5000) + new string(']', 5000), Encoding.UTF8, "application/json"),
        5 => new StringContent(string.Concat(Enumerable.Repeat("{\"a\":", 200)) + "1" + new string('}', 200), Encoding.UTF8, "application/json"),
        6 => new ByteArrayContent([0x7B, 0x22, 0xC3, 0x28, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        7 => new StringContent("{\"a\":1}", Encoding.UTF8, "text/plain"),
        8 => new StringContent("{\"pad\":\"" + new string('p', 3 * 1024 * 1024) + "\"}", Encoding.UTF8, "application/json"),
        _ => new StringContent("\"just a string\"", Encoding.UTF8, "application/json"),
    };

    private string HexId()
    {
        var bytes = new byte[16];
        _random.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private T Pick<T>(T[] options) => options[_random.Next(options.Length)];

    private string Random(int length)
    {
        const string alphabet = "abcXYZ019-_.@+=:~!/%?#&[]{}\"' \\\t<>|^`$";
        return string.Create(length, _random, static (span, random) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = alphabet[random.Next(alphabet.Length)];
            }
        });
    }

    private static string Shorten(string text) => text.Length <= 240 ? text : text[..240] + "...";
}
