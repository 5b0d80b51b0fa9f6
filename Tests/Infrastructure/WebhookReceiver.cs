using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// A real webhook receiver on 127.0.0.1 (Kestrel): answers each POST with the status <see cref="Answer"/> gives for the
/// request's number (1, 2, ...) and, once it knows the secret, verifies each request's signature with the
/// StandardWebhooks library, recording the outcome.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _count;
    private int _inFlight;

    private WebhookReceiver(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>The URL to register.</summary>
    public Uri Url { get; }

    /// <summary>The signing secret to verify with (set after registration).</summary>
    public string? Secret { get; set; }

    /// <summary>The status to answer for the n-th request (from 1); 200 by default.</summary>
    public Func<int, int> Answer { get; set; } = _ => 200;

    /// <summary>Awaited before answering the n-th request (a receiver that is slow to answer); none by default.</summary>
    public Func<int, Task>? Hold { get; set; }

    /// <summary>Requests received and not answered yet.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Every request received, in order.</summary>
    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>Starts a receiver on a free loopback port.</summary>
    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        WebhookReceiver? receiver = null;
        app.MapPost("/hook", async (HttpContext context) =>
        {
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
            var n = Interlocked.Increment(ref receiver!._count);
            string? verifyError = null;
            if (receiver.Secret is { } secret)
            {
                try
                {
                    new StandardWebhook(secret).Verify(body, context.Request.Headers);
                }
                catch (WebhookVerificationException ex)
                {
                    verifyError = ex.Message;
                }
            }
            else
            {
                verifyError = "no secret to verify with";
            }

            Interlocked.Increment(ref receiver._inFlight);
            try
            {
                if (receiver.Hold is { } hold)
                {
                    await hold(n);
                }
            }
            finally
            {
                Interlocked.Decrement(ref receiver._inFlight);
            }

            var status = receiver.Answer(n);
            receiver.Requests.Enqueue(new Received(n, context.Request.Headers["webhook-id"].ToString(), body, verifyError, status));
            return Results.StatusCode(status);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        receiver = new WebhookReceiver(app, new Uri(new Uri(address), "/hook"));
        return receiver;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>One request: its number, its <c>webhook-id</c>, its body, why its signature failed (null: verified) and the answer given.</summary>
    public sealed record Received(int Number, string MessageId, string Body, string? VerifyError, int AnsweredStatus);
}
