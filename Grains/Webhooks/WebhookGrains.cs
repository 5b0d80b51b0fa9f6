using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Grains.Hosting;
using Orleans.Coordinator.Grains.Infrastructure;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Interfaces.Events;
using Orleans.Coordinator.Grains.Interfaces.Webhooks;
using Orleans.Storage;

namespace Orleans.Coordinator.Grains.Webhooks;

/// <summary>A tenant's persisted webhook registry.</summary>
[GenerateSerializer, Alias("coordinator.TenantWebhooksState")]
public sealed class TenantWebhooksState
{
    /// <summary>The webhooks, oldest first.</summary>
    [Id(0)]
    public List<WebhookInfo> Webhooks { get; set; } = [];
}

/// <summary>One webhook's persisted state: its registration, secret, cursor in the feed and deliveries.</summary>
[GenerateSerializer, Alias("coordinator.WebhookGrainState")]
public sealed class WebhookGrainState
{
    /// <summary>The tenant (the feed's grain key); null before creation.</summary>
    [Id(0)]
    public string? Tenant { get; set; }

    /// <summary>The registration; null before creation and after deletion.</summary>
    [Id(1)]
    public WebhookInfo? Info { get; set; }

    /// <summary>The signing secret (<c>whsec_...</c>).</summary>
    [Id(2)]
    public string? Secret { get; set; }

    /// <summary>The feed's events up to this sequence have been looked at.</summary>
    [Id(3)]
    public long Cursor { get; set; }

    /// <summary>Pending deliveries and the newest finished ones, oldest first.</summary>
    [Id(4)]
    public List<WebhookDelivery> Deliveries { get; set; } = [];

    /// <summary>Attempts of each delivery since it was created or last redelivered, by delivery id (pending ones only).</summary>
    [Id(5)]
    public Dictionary<string, int> SeriesAttempts { get; set; } = [];
}

/// <summary>Single writer over a tenant's webhook registry; every change persisted before the answer.</summary>
internal sealed class TenantWebhooksGrain(
    [PersistentState("webhooks", CoordinatorStorage.Name)] IPersistentState<TenantWebhooksState> state,
    WebhookSender sender,
    CoordinatorClock clock) : Grain, ITenantWebhooksGrain
{
    private string Tenant => this.GetPrimaryKeyString();

    public async Task<WebhookCreated> RegisterAsync(string url, string[] events)
    {
        var types = WebhookLimits.ValidateEvents(events);
        await sender.CheckDestinationAsync(url, CancellationToken.None);
        if (state.State.Webhooks.Count >= WebhookLimits.MaxPerTenant)
        {
            throw new CoordinatorValidationException("url", $"a tenant has at most {WebhookLimits.MaxPerTenant} webhooks; delete one first.");
        }

        var info = new WebhookInfo("wh_" + GrainKeys.NewOpaqueId()[..24], url, types, clock.NowMs);
        var from = await GrainFactory.GetGrain<ITenantEventsGrain>(Tenant).LastSequenceAsync();
        var webhook = GrainFactory.GetGrain<IWebhookGrain>(GrainKeys.Webhook(Tenant, info.WebhookId));
        var secret = await webhook.CreateAsync(Tenant, info, from);
        try
        {
            await state.UpdateAsync(s =>
            {
                s.Webhooks.Add(info);
                return (true, true);
            });
        }
        catch
        {
            await webhook.DeleteAsync(); // not listed, so not kept
            throw;
        }

        return new WebhookCreated(info, secret);
    }

    public Task<WebhookInfo[]> ListAsync() => Task.FromResult(state.State.Webhooks.ToArray());

    public async Task<bool> DeleteAsync(string webhookId)
    {
        var removed = await state.UpdateAsync(s =>
        {
            var count = s.Webhooks.RemoveAll(w => w.WebhookId == webhookId);
            return (count > 0, count > 0);
        });
        if (removed)
        {
            await GrainFactory.GetGrain<IWebhookGrain>(GrainKeys.Webhook(Tenant, webhookId)).DeleteAsync();
        }

        return removed;
    }

    public Task EventPublishedAsync(string type)
    {
        foreach (var webhook in state.State.Webhooks.Where(w => WebhookLimits.Matches(w.Events, type)))
        {
            // One-way: each webhook reads the feed itself; its reminder catches a lost hint.
            _ = GrainFactory.GetGrain<IWebhookGrain>(GrainKeys.Webhook(Tenant, webhook.WebhookId)).PokeAsync();
        }

        return Task.CompletedTask;
    }
}

/// <summary>
/// Single writer over one webhook's deliveries: reads the feed after its cursor, keeps each matching event as a
/// pending delivery (persisted before its first attempt), sends what is due, records every attempt, and retries with
/// <see cref="WebhookRules.NextDelayMs"/> until delivered or dead-lettered. A grain timer wakes it for the next due
/// attempt; a durable reminder (<c>Webhooks:PumpPeriod</c>) resumes it after a silo is lost. Reads interleave and answer
/// the last saved deliveries.
/// </summary>
internal sealed partial class WebhookGrain(
    [PersistentState("webhook", CoordinatorStorage.Name)] IPersistentState<WebhookGrainState> state,
    WebhookSender sender,
    IOptions<WebhookOptions> options,
    CoordinatorClock clock,
    ILogger<WebhookGrain> logger) : Grain, IWebhookGrain, IRemindable
{
    private const string PumpReminder = "webhook-pump";
    private const int MaxSendsPerPump = 16;
    private IGrainTimer? _timer;
    private WebhookInfo? _savedInfo;
    private WebhookDelivery[] _savedDeliveries = [];

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Saved();
        if (state.State.Info is not null)
        {
            // Work left by an earlier activation (a silo lost between attempts) resumes now rather than at the reminder.
            ScheduleAt(clock.NowMs);
        }

        return Task.CompletedTask;
    }

    public async Task<string> CreateAsync(string tenant, WebhookInfo info, long afterSequence)
    {
        if (state.State.Info is { } existing && existing.WebhookId == info.WebhookId)
        {
            return state.State.Secret!;
        }

        // The reminder first: a stored webhook always has its reminder (one without a webhook removes itself).
        await this.RegisterOrUpdateReminder(PumpReminder, options.Value.PumpPeriod, options.Value.PumpPeriod);
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        await state.UpdateAsync(s =>
        {
            (s.Tenant, s.Info, s.Secret, s.Cursor) = (tenant, info, secret, afterSequence);
            s.Deliveries.Clear();
            s.SeriesAttempts.Clear();
            return (true, true);
        });
        Saved();
        return secret;
    }

    public async Task DeleteAsync()
    {
        _timer?.Dispose();
        _timer = null;
        if (await this.GetReminder(PumpReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }

        await state.ClearStateAsync();
        state.State = new WebhookGrainState();
        Saved();
    }

    public Task PokeAsync() => PumpAsync();

    public Task<WebhookInfo?> GetAsync() => Task.FromResult(_savedInfo);

    public Task<WebhookDelivery[]?> GetDeliveriesAsync(WebhookDeliveryStatus? status)
        => Task.FromResult(_savedInfo is null
            ? null
            : _savedDeliveries.Where(d => status is null || d.Status == status).Reverse().ToArray());

    public async Task<WebhookDelivery?> RedeliverAsync(string deliveryId)
    {
        if (state.State.Info is null || state.State.Deliveries.FindIndex(d => d.DeliveryId == deliveryId) is var index and < 0)
        {
            return null;
        }

        var now = clock.NowMs;
        var queued = await state.UpdateAsync(s =>
        {
            var i = s.Deliveries.FindIndex(d => d.DeliveryId == deliveryId);
            var again = s.Deliveries[i] with { Status = WebhookDeliveryStatus.Pending, NextAttemptAtMs = now };
            s.Deliveries.RemoveAt(i);
            s.Deliveries.Add(again); // the newest again
            s.SeriesAttempts[deliveryId] = 0;
            return (again, true);
        });
        Saved();
        ScheduleAt(now);
        return queued;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (state.State.Info is null)
        {
            if (await this.GetReminder(PumpReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }

            return;
        }

        await PumpAsync();
    }

    private async Task PumpAsync()
    {
        if (state.State.Info is not { } info || state.State.Tenant is not { } tenant)
        {
            return;
        }

        try
        {
            await PullAsync(tenant, info);
            await SendDueAsync(info);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Storage or the feed is unavailable: the reminder (or the next event) tries again; nothing acknowledged is lost.
            LogPumpFailed(logger, info.WebhookId, ex.Message);
            await TryReloadAsync();
        }

        if (state.State.Deliveries.Where(d => d.Status == WebhookDeliveryStatus.Pending).Select(d => d.NextAttemptAtMs ?? 0).DefaultIfEmpty(-1).Min() is var next and >= 0)
        {
            ScheduleAt(next);
        }
    }

    /// <summary>Takes the feed's new events that this webhook receives as pending deliveries (persisted).</summary>
    private async Task PullAsync(string tenant, WebhookInfo info)
    {
        var feed = GrainFactory.GetGrain<ITenantEventsGrain>(tenant);
        while (true)
        {
            var room = WebhookLimits.MaxPending - state.State.Deliveries.Count(d => d.Status == WebhookDeliveryStatus.Pending);
            if (room <= 0)
            {
                return; // newer events wait in the feed until deliveries finish
            }

            var page = await feed.ReadAsync(state.State.Cursor, Math.Min(TenantEventLimits.MaxPage, 100));
            if (page.Events.Length == 0)
            {
                return;
            }

            var now = clock.NowMs;
            var cursor = state.State.Cursor;
            var added = new List<WebhookDelivery>();
            foreach (var e in page.Events)
            {
                if (added.Count == room)
                {
                    break;
                }

                cursor = e.Sequence;
                if (WebhookLimits.Matches(info.Events, e.Type))
                {
                    added.Add(new WebhookDelivery(EventId(e.Sequence), e.Type, e.Sequence, WebhookDeliveryStatus.Pending, [], now, Payload(e)));
                }
            }

            await state.UpdateAsync(s =>
            {
                s.Cursor = cursor;
                foreach (var d in added)
                {
                    s.Deliveries.Add(d);
                    s.SeriesAttempts[d.DeliveryId] = 0;
                }

                return (true, true);
            });
            Saved();
            if (page.Events.Length < 100 || added.Count == room)
            {
                return;
            }
        }
    }

    /// <summary>Sends the due deliveries (at most 16 at once) and records each attempt (persisted).</summary>
    private async Task SendDueAsync(WebhookInfo info)
    {
        var now = clock.NowMs;
        var due = state.State.Deliveries
            .Where(d => d.Status == WebhookDeliveryStatus.Pending && d.NextAttemptAtMs <= now)
            .OrderBy(d => d.NextAttemptAtMs).Take(MaxSendsPerPump).ToList();
        if (due.Count == 0)
        {
            return;
        }

        var secret = state.State.Secret!;
        var results = await Task.WhenAll(due.Select(d => sender.SendAsync(info.Url, secret, d.DeliveryId, d.Payload, now)));
        var o = options.Value;
        await state.UpdateAsync(s =>
        {
            for (var i = 0; i < due.Count; i++)
            {
                var index = s.Deliveries.FindIndex(d => d.DeliveryId == due[i].DeliveryId);
                if (index < 0 || s.Deliveries[index].Status != WebhookDeliveryStatus.Pending)
                {
                    continue;
                }

                var (attempt, delivered) = results[i];
                var current = s.Deliveries[index];
                var attempts = current.Attempts.Append(attempt).TakeLast(WebhookLimits.MaxAttemptsKept).ToArray();
                var series = s.SeriesAttempts.GetValueOrDefault(current.DeliveryId) + 1;
                WebhookDelivery next;
                if (delivered)
                {
                    next = current with { Status = WebhookDeliveryStatus.Delivered, Attempts = attempts, NextAttemptAtMs = null };
                    CoordinatorDiagnostics.WebhookAttempts.Add(1, new KeyValuePair<string, object?>("outcome", "delivered"));
                }
                else if (series >= o.MaxAttempts)
                {
                    next = current with { Status = WebhookDeliveryStatus.DeadLetter, Attempts = attempts, NextAttemptAtMs = null };
                    CoordinatorDiagnostics.WebhookAttempts.Add(1, new KeyValuePair<string, object?>("outcome", "dead_letter"));
                    CoordinatorDiagnostics.WebhookDeadLetters.Add(1);
                    LogDeadLetter(logger, info.WebhookId, current.DeliveryId, series, attempt.StatusCode, attempt.Error ?? "");
                }
                else
                {
                    var wait = WebhookRules.NextDelayMs(series, Random.Shared.NextDouble(), (long)o.InitialBackoff.TotalMilliseconds, (long)o.MaxBackoff.TotalMilliseconds);
                    next = current with { Attempts = attempts, NextAttemptAtMs = clock.NowMs + wait };
                    CoordinatorDiagnostics.WebhookAttempts.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
                }

                s.Deliveries[index] = next;
                if (next.Status == WebhookDeliveryStatus.Pending)
                {
                    s.SeriesAttempts[current.DeliveryId] = series;
                }
                else
                {
                    s.SeriesAttempts.Remove(current.DeliveryId);
                }
            }

            // Keep every pending delivery and the newest finished ones.
            var finished = s.Deliveries.Count(d => d.Status != WebhookDeliveryStatus.Pending);
            for (var i = 0; i < s.Deliveries.Count && finished > WebhookLimits.MaxFinishedKept;)
            {
                if (s.Deliveries[i].Status != WebhookDeliveryStatus.Pending)
                {
                    s.Deliveries.RemoveAt(i);
                    finished--;
                }
                else
                {
                    i++;
                }
            }

            return (true, true);
        });
        Saved();
    }

    private void ScheduleAt(long dueAtMs)
    {
        _timer?.Dispose();
        var due = TimeSpan.FromMilliseconds(Math.Max(0, dueAtMs - clock.NowMs));
        _timer = this.RegisterGrainTimer(_ => PumpAsync(), new GrainTimerCreationOptions { DueTime = due, Period = Timeout.InfiniteTimeSpan, Interleave = false });
    }

    private void Saved()
    {
        _savedInfo = state.State.Info;
        _savedDeliveries = [.. state.State.Deliveries];
    }

    private async Task TryReloadAsync()
    {
        try
        {
            await state.ReadStateAsync();
            Saved();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Storage is down: the saved snapshot stays; the next write is ETag-checked.
        }
    }

    private static string EventId(long sequence) => "evt_" + sequence.ToString(CultureInfo.InvariantCulture);

    /// <summary>The body: <c>{"type", "timestamp" (ISO 8601), "data"}</c>, the shape the Standard Webhooks specification recommends.</summary>
    private static string Payload(TenantEvent e)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("type", e.Type);
            writer.WriteString("timestamp", DateTimeOffset.FromUnixTimeMilliseconds(e.AtMs));
            writer.WritePropertyName("data");
            writer.WriteRawValue(e.DataJson, skipInputValidation: false);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {WebhookId} could not read its events or save its deliveries (tries again): {Reason}")]
    private static partial void LogPumpFailed(ILogger logger, string webhookId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {WebhookId} dead-lettered delivery {DeliveryId} after {Attempts} attempts (last status {StatusCode} {Error})")]
    private static partial void LogDeadLetter(ILogger logger, string webhookId, string deliveryId, int attempts, int statusCode, string error);
}
