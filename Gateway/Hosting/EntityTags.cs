using System.Globalization;
using Microsoft.Extensions.Primitives;
using Orleans.Coordinator.Grains.Interfaces;

namespace Orleans.Coordinator.Hosting;

/// <summary>
/// Entity tags of versioned resources: <c>ETag: "3"</c> for version 3, and the parsing of <c>If-Match</c> and
/// <c>If-None-Match</c> (RFC 9110 sections 8.8.3, 13.1.1 and 13.1.2): <c>*</c>, or a comma-separated list of strong
/// (<c>"3"</c>) and weak (<c>W/"3"</c>) tags, over one or more header lines. A tag this service never issued is
/// well formed and simply matches nothing; a malformed field answers 400 naming the header.
/// </summary>
public static class EntityTags
{
    /// <summary>The strong entity tag of a version.</summary>
    public static string Of(long version) => string.Create(CultureInfo.InvariantCulture, $"\"{version}\"");

    /// <summary>
    /// Reads the request's <c>If-Match</c> and <c>If-None-Match</c>. False with the header's name in
    /// <paramref name="badHeader"/> when one is malformed.
    /// </summary>
    public static bool TryReadPreconditions(HttpRequest request, out VersionPrecondition precondition, out string? badHeader)
    {
        ArgumentNullException.ThrowIfNull(request);
        precondition = VersionPrecondition.None;
        if (!TryParse(request.Headers.IfMatch, out var ifMatch))
        {
            badHeader = "If-Match";
            return false;
        }

        if (!TryParse(request.Headers.IfNoneMatch, out var ifNoneMatch))
        {
            badHeader = "If-None-Match";
            return false;
        }

        badHeader = null;
        precondition = new VersionPrecondition(ifMatch, ifNoneMatch);
        return true;
    }

    /// <summary>Parses one field (all its lines); null when absent or empty.</summary>
    public static bool TryParse(StringValues lines, out VersionMatch? match)
    {
        match = null;
        var any = false;
        var strong = new List<long>();
        var weak = new List<long>();
        var tags = 0;
        foreach (var line in lines)
        {
            var s = line.AsSpan();
            var i = 0;
            while (true)
            {
                // Skip OWS and empty list elements ("a, , b" is allowed by the list syntax of RFC 9110 section 5.6.1).
                while (i < s.Length && (s[i] is ' ' or '\t' or ','))
                {
                    i++;
                }

                if (i >= s.Length)
                {
                    break;
                }

                if (s[i] == '*')
                {
                    any = true;
                    i++;
                }
                else
                {
                    var isWeak = s[i..].StartsWith("W/", StringComparison.Ordinal);
                    if (isWeak)
                    {
                        i += 2;
                    }

                    if (i >= s.Length || s[i] != '"')
                    {
                        return false;
                    }

                    var close = s[(i + 1)..].IndexOf('"');
                    if (close < 0)
                    {
                        return false;
                    }

                    var opaque = s.Slice(i + 1, close);
                    foreach (var c in opaque)
                    {
                        // etagc = %x21 / %x23-7E / obs-text
                        if (c < 0x21 || c == 0x7F)
                        {
                            return false;
                        }
                    }

                    // Tags compare as opaque strings: only the exact form this service issues ("7", not "007") names a version.
                    if (long.TryParse(opaque, NumberStyles.None, CultureInfo.InvariantCulture, out var version) && version > 0
                        && opaque.Length == version.ToString(CultureInfo.InvariantCulture).Length)
                    {
                        (isWeak ? weak : strong).Add(version);
                    }

                    i += close + 2;
                }

                tags++;
                while (i < s.Length && (s[i] is ' ' or '\t'))
                {
                    i++;
                }

                if (i < s.Length && s[i] != ',')
                {
                    return false;
                }
            }
        }

        if (tags == 0)
        {
            return true;
        }

        // "*" stands alone: it is the whole field value or the field is malformed.
        if (any && tags > 1)
        {
            return false;
        }

        match = new VersionMatch(any, [.. strong], [.. weak]);
        return true;
    }

    /// <summary>
    /// Answers a read of a versioned text under <paramref name="precondition"/> (RFC 9110 section 13.2.2): 304 with the
    /// ETag when <c>If-None-Match</c> matched, 412 when <c>If-Match</c> failed, <paramref name="notFound"/> when there is
    /// no text (<paramref name="version"/> 0), else 200 with the text as <paramref name="mediaType"/> and its ETag.
    /// </summary>
    public static IResult ConditionalRead(HttpContext context, VersionPrecondition precondition, long version, string? text, string mediaType, Func<IResult> notFound)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(precondition);
        ArgumentNullException.ThrowIfNull(notFound);
        switch (precondition.Evaluate(text is null ? 0 : version, safeMethod: true))
        {
            case PreconditionOutcome.NotModified:
                context.Response.Headers.ETag = Of(version);
                return TypedResults.StatusCode(StatusCodes.Status304NotModified);
            case PreconditionOutcome.Failed:
                return ProblemResponses.Result(context, ProblemResponses.PreconditionFailed(text is null ? 0 : version));
        }

        if (text is null)
        {
            return notFound();
        }

        context.Response.Headers.ETag = Of(version);
        return TypedResults.Content(text, mediaType, System.Text.Encoding.UTF8);
    }
}
