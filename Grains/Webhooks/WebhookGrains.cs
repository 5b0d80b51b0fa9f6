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

        // Listed first: a webhook whose creation fails halfway is visible, so it can be deleted.
        await state.UpdateAsync(s =>
        {
            s.Webhooks.Add(info);
            return (true, true);
        });
        try
        {
            return new WebhookCreated(info, await webhook.CreateAsync(Tenant, info, from));
        }
        catch
        {
            await TryForgetAsync(webhook, info.WebhookId);
            throw;
        }
    }

    public Task<WebhookInfo[]> ListAsync() => Task.FromResult(state.State.Webhooks.ToArray());

    public async Task<bool> DeleteAsync(string webhookId)
    {
        var webhook = GrainFactory.GetGrain<IWebhookGrain>(GrainKeys.Webhook(Tenant, webhookId));
        var listed = state.State.Webhooks.Exists(w => w.WebhookId == webhookId);
        if (!listed && await webhook.GetAsync() is null)
        {
            return false;
        }

        // The webhook first (its deliveries stop), then the list: a failure halfway leaves it listed, so a retry works.
        await webhook.DeleteAsync();
        await state.UpdateAsync(s =>
        {
            var count = s.Webhooks.RemoveAll(w => w.WebhookId == webhookId);
            return (true, count > 0);
        });
        return true;
    }

    private async Task TryForgetAsync(IWebhookGrain webhook, string webhookId)
    {
        try
        {
            await webhook.DeleteAsync();
            await state.UpdateAsync(s => (true, s.Webhooks.RemoveAll(w => w.WebhookId == webhookId) > 0));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Left listed: DELETE removes it.
        }
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
/// attempt; a durable reminder (<c>Webhooks:PumpPeriod</c>) resumes it after a silo is lost. Reentrant so that the HTTP
/// sends (up to <c>Webhooks:Timeout</c>) never hold up a deletion or a redelivery: one pump runs at a time, every state
/// change is one decide-and-write under a lock, and reads answer the last saved deliveries.
/// </summary>
[Orleans.Concurrency.Reentrant]
internal sealed partial class WebhookGrain(
    [PersistentState("webhook", CoordinatorStorage.Name)] IPersistentState<WebhookGrainState> state,
    WebhookSender sender,
    IOptions<WebhookOptions> options,
    CoordinatorClock clock,
    ILogger<WebhookGrain> logger) : Grain, IWebhookGrain, IRemindable
{
    private const string PumpReminder = "webhook-pump";
    private const int MaxSendsPerPump = 16;
    private readonly SemaphoreSlim _writes = new(1, 1);
    private IGrainTimer? _timer;
    private bool _pumping;
    private bool _pumpAgain;
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
        await WriteAsync(s =>
        {
            (s.Tenant, s.Info, s.Secret, s.Cursor) = (tenant, info, secret, afterSequence);
            s.Deliveries.Clear();
            s.SeriesAttempts.Clear();
            return (true, true);
        });
        return secret;
    }

    public async Task DeleteAsync()
    {
        _timer?.Dispose();
        _timer = null;
        await _writes.WaitAsync();
        try
        {
            // The state first: a reminder left behind finds no webhook and removes itself.
            await state.ClearStateAsync();
            state.State = new WebhookGrainState();
            Saved();
        }
        finally
        {
            _writes.Release();
        }

        if (await this.GetReminder(PumpReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    public Task PokeAsync() => PumpAsync();

    public Task<WebhookInfo?> GetAsync() => Task.FromResult(_savedInfo);

    public Task<WebhookDelivery[]?> GetDeliveriesAsync(WebhookDeliveryStatus? status)
        => Task.FromResult(_savedInfo is null
            ? null
            : _savedDeliveries.Where(d => status is null || d.Status == status).Reverse().ToArray());

    public async Task<WebhookDelivery?> RedeliverAsync(string deliveryId)
    {
        var now = clock.NowMs;
        var queued = await WriteAsync<WebhookDelivery?>(s =>
        {
            var i = s.Deliveries.FindIndex(d => d.DeliveryId == deliveryId);
            if (s.Info is null || i < 0)
            {
                return (null, false);
            }

            var again = s.Deliveries[i] with { Status = WebhookDeliveryStatus.Pending, NextAttemptAtMs = now };
            s.Deliveries.RemoveAt(i);
            s.Deliveries.Add(again); // the newest again
            s.SeriesAttempts[deliveryId] = 0;
            return (again, true);
        });
        if (queued is not null)
        {
            ScheduleAt(now);
        }

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
        if (_pumping)
        {
            _pumpAgain = true; // the running pump goes round once more
            return;
        }

        _pumping = true;
        try
        {
            do
            {
                _pumpAgain = false;
                await PumpOnceAsync();
            }
            while (_pumpAgain);
        }
        finally
        {
            _pumping = false;
        }
    }

    private async Task PumpOnceAsync()
    {
        if (_savedInfo is not { } info || state.State.Tenant is not { } tenant)
        {
            return;
        }

        var failed = false;
        var pullLimited = false;
        try
        {
            pullLimited = await PullAsync(tenant, info);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The feed or storage is unavailable: due deliveries are still sent; the pull is tried again later.
            LogPumpFailed(logger, info.WebhookId, ex.Message);
            failed = true;
        }

        var finished = 0;
        try
        {
            finished = await SendDueAsync(info);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The attempts could not be recorded: they are sent again later (at least once), not at once.
            LogPumpFailed(logger, info.WebhookId, ex.Message);
            failed = true;
        }

        if (_savedInfo is null)
        {
            return; // deleted meanwhile
        }

        var now = clock.NowMs;
        var next = _savedDeliveries.Where(d => d.Status == WebhookDeliveryStatus.Pending).Select(d => d.NextAttemptAtMs ?? now).DefaultIfEmpty(long.MaxValue).Min();
        if (pullLimited && finished > 0)
        {
            next = now; // room for events that waited in the feed
        }

        if (failed)
        {
            next = Math.Max(next == long.MaxValue ? now : next, now + (long)options.Value.InitialBackoff.TotalMilliseconds);
        }

        if (next != long.MaxValue)
        {
            ScheduleAt(next);
        }
    }

    /// <summary>
    /// Takes the feed's new events that this webhook receives as pending deliveries (persisted); true when it stopped
    /// because the webhook holds <see cref="WebhookLimits.MaxPending"/> pending deliveries.
    /// </summary>
    private async Task<bool> PullAsync(string tenant, WebhookInfo info)
    {
        var feed = GrainFactory.GetGrain<ITenantEventsGrain>(tenant);
        while (true)
        {
            var room = WebhookLimits.MaxPending - _savedDeliveries.Count(d => d.Status == WebhookDeliveryStatus.Pending);
            if (room <= 0)
            {
                return true; // newer events wait in the feed until deliveries finish
            }

            var from = state.State.Cursor;
            var page = await feed.ReadAsync(from, 100);
            if (page.Events.Length == 0)
            {
                return false;
            }

            if (page.Events[0].Sequence > from + 1)
            {
                // The feed dropped events this webhook had not read (it fell more than 10,000 events behind).
                CoordinatorDiagnostics.WebhookSkipped.Add(page.Events[0].Sequence - from - 1);
                LogSkipped(logger, info.WebhookId, from + 1, page.Events[0].Sequence - 1);
            }

            var now = clock.NowMs;
            var cursor = from;
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

            await WriteAsync(s =>
            {
                if (s.Info is null)
                {
                    return (false, false);
                }

                // Decided again on what is stored (another activation may have pulled the same events).
                foreach (var d in added.Where(d => d.EventSequence > s.Cursor && !s.Deliveries.Exists(x => x.DeliveryId == d.DeliveryId)))
                {
                    s.Deliveries.Add(d);
                    s.SeriesAttempts[d.DeliveryId] = 0;
                }

                s.Cursor = Math.Max(s.Cursor, cursor);
                return (true, true);
            });
            if (page.Events.Length < 100 || added.Count == room)
            {
                return added.Count == room;
            }
        }
    }

    /// <summary>Sends the due deliveries (at most 16 at once), records each attempt (persisted) and answers how many finished.</summary>
    private async Task<int> SendDueAsync(WebhookInfo info)
    {
        var now = clock.NowMs;
        var due = _savedDeliveries
            .Where(d => d.Status == WebhookDeliveryStatus.Pending && d.NextAttemptAtMs <= now)
            .OrderBy(d => d.NextAttemptAtMs).Take(MaxSendsPerPump).ToList();
        if (due.Count == 0)
        {
            return 0;
        }

        var secret = state.State.Secret!;
        var results = await Task.WhenAll(due.Select(d => sender.SendAsync(info.Url, secret, d.DeliveryId, d.Payload, now)));
        var o = options.Value;
        var finished = 0;
        await WriteAsync(s =>
        {
            if (s.Info is null)
            {
                return (false, false); // deleted while sending
            }

            finished = 0;
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
                    finished++;
                }
            }

            // Keep every pending delivery and the newest finished ones.
            var kept = s.Deliveries.Count(d => d.Status != WebhookDeliveryStatus.Pending);
            for (var i = 0; i < s.Deliveries.Count && kept > WebhookLimits.MaxFinishedKept;)
            {
                if (s.Deliveries[i].Status != WebhookDeliveryStatus.Pending)
                {
                    s.Deliveries.RemoveAt(i);
                    kept--;
                }
                else
                {
                    i++;
                }
            }

            return (true, true);
        });
        return finished;
    }

    /// <summary>One decide-and-write at a time (ETag-checked; reloaded when it fails); the saved snapshot follows.</summary>
    private async Task<T> WriteAsync<T>(Func<WebhookGrainState, (T Result, bool Changed)> decide)
    {
        await _writes.WaitAsync();
        try
        {
            return await state.UpdateAsync(decide);
        }
        finally
        {
            Saved();
            _writes.Release();
        }
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {WebhookId} missed events {From} to {To}: the feed no longer keeps them (the webhook fell more than 10,000 events behind)")]
    private static partial void LogSkipped(ILogger logger, string webhookId, long from, long to);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {WebhookId} dead-lettered delivery {DeliveryId} after {Attempts} attempts (last status {StatusCode} {Error})")]
    private static partial void LogDeadLetter(ILogger logger, string webhookId, string deliveryId, int attempts, int statusCode, string error);
}
