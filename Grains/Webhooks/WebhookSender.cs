using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Webhooks;
using StandardWebhooks;

namespace Orleans.Coordinator.Grains.Webhooks;

/// <summary>
/// Sends webhook messages: JSON POSTs signed per the Standard Webhooks specification (<c>webhook-id</c>,
/// <c>webhook-timestamp</c>, <c>webhook-signature</c>: HMAC-SHA256 of <c>{id}.{timestamp}.{body}</c>, by the
/// <c>StandardWebhooks</c> library), with no redirects followed, and the destination checked against
/// <c>Webhooks:AllowedHosts</c> when a URL is registered and again on every connection (the connection goes only to an
/// address that passed, so a name re-pointed at a private address after registration is refused too).
/// </summary>
public sealed class WebhookSender : IDisposable
{
    private readonly IOptions<WebhookOptions> _options;
    private readonly HttpClient _http;

    /// <summary>Creates the sender and its one connection pool.</summary>
    public WebhookSender(IOptions<WebhookOptions> options)
    {
        _options = options;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false, // the destination check is on the connection: a proxy (HTTP_PROXY) would connect elsewhere
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            ConnectCallback = ConnectAsync,
            UseCookies = false,
        };
        _http = new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("Orleans.Coordinator-Webhooks/1");
    }

    /// <summary>
    /// Checks a URL for registration. Throws <see cref="CoordinatorValidationException"/> (field <c>url</c>) when it is
    /// not an absolute http(s) URL of at most 2,048 characters, carries user information, names a host
    /// <c>Webhooks:AllowedHosts</c> does not allow, or resolves only to addresses that are not public while its host is
    /// not listed by name. The message names the host, never the path or query (they may carry tokens).
    /// </summary>
    public async Task CheckDestinationAsync(string? url, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(url) || url.Length > WebhookLimits.MaxUrlLength
            || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            throw new CoordinatorValidationException("url", $"url must be an absolute http or https URL of at most {WebhookLimits.MaxUrlLength} characters.");
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            throw new CoordinatorValidationException("url", "url must not carry a user name or password: the receiver verifies the signature instead.");
        }

        var host = uri.IdnHost;
        var permission = WebhookRules.Permission(host, _options.Value.AllowedHosts);
        if (permission == HostPermission.Refused)
        {
            throw new CoordinatorValidationException("url", $"the host '{host}' is not allowed by Webhooks:AllowedHosts.");
        }

        if (permission == HostPermission.Listed)
        {
            return;
        }

        IPAddress[] usable;
        try
        {
            usable = await UsableAddressesAsync(host, permission, cancellationToken);
        }
        catch (SocketException)
        {
            throw new CoordinatorValidationException("url", $"the host '{host}' does not resolve.");
        }

        if (usable.Length == 0)
        {
            throw new CoordinatorValidationException("url", $"the host '{host}' is a private, loopback or link-local address; list it in Webhooks:AllowedHosts to allow it.");
        }
    }

    /// <summary>
    /// POSTs <paramref name="payload"/> to <paramref name="url"/> signed with <paramref name="secret"/> (<c>whsec_...</c>),
    /// message id <paramref name="messageId"/>, and answers the attempt: a 2xx answer is a success; any other answer, a
    /// refused destination, a connection failure or no answer within <c>Webhooks:Timeout</c> is a failure (status 0 when
    /// there was no answer). Never throws for the receiver's faults.
    /// </summary>
    public async Task<(WebhookAttempt Attempt, bool Delivered)> SendAsync(string url, string secret, string messageId, string payload, long nowMs)
    {
        var started = Stopwatch.GetTimestamp();
        var timestamp = DateTimeOffset.FromUnixTimeMilliseconds(nowMs);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.Add("webhook-id", messageId);
        request.Headers.Add("webhook-timestamp", timestamp.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", new StandardWebhook(secret).Sign(messageId, timestamp, payload));
        using var timeout = new CancellationTokenSource(_options.Value.Timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            return (new WebhookAttempt(nowMs, status, null, ElapsedMs(started)), status is >= 200 and < 300);
        }
        catch (OperationCanceledException)
        {
            return (new WebhookAttempt(nowMs, 0, $"no answer within {_options.Value.Timeout.TotalSeconds:0.###} s", ElapsedMs(started)), false);
        }
        catch (HttpRequestException ex)
        {
            var reason = ex.InnerException is DestinationRefusedException refused ? refused.Message : $"connection failed ({ex.HttpRequestError})";
            return (new WebhookAttempt(nowMs, 0, reason, ElapsedMs(started)), false);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private static long ElapsedMs(long started) => (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var permission = WebhookRules.Permission(host, _options.Value.AllowedHosts);
        if (permission == HostPermission.Refused)
        {
            throw new DestinationRefusedException($"destination refused: the host '{host}' is not allowed by Webhooks:AllowedHosts");
        }

        var usable = await UsableAddressesAsync(host, permission, cancellationToken);
        if (usable.Length == 0)
        {
            throw new DestinationRefusedException($"destination refused: the host '{host}' resolves only to private, loopback or link-local addresses");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(usable, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The addresses a host may be reached at: all it resolves to when it is listed by name, else only the public ones
    /// (one rule for the registration check and for every connection). Throws <see cref="SocketException"/> when it does
    /// not resolve.
    /// </summary>
    private static async Task<IPAddress[]> UsableAddressesAsync(string host, HostPermission permission, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        return permission == HostPermission.Listed ? addresses : [.. addresses.Where(WebhookRules.IsPublic)];
    }

    private sealed class DestinationRefusedException(string message) : IOException(message);
}
