namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>The <c>Webhooks</c> configuration section: where webhooks may deliver, and how they retry.</summary>
public sealed class WebhookOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Webhooks";

    /// <summary>
    /// Destinations allowed: <c>*</c> (any host that resolves to public addresses), <c>*.example.com</c> or a host name
    /// or address. Private (RFC 1918), loopback, link-local and other special-purpose addresses are refused, at
    /// registration and again at every connection (so a name that later resolves elsewhere is caught), unless the host
    /// is listed by name or suffix. Default <c>["*"]</c>.
    /// </summary>
    public string[] AllowedHosts { get; set; } = ["*"];

    /// <summary>Attempts per delivery before it is dead-lettered (default 8; 1 to 50).</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The wait after the first failure; it doubles after each further one, with jitter (default 5 s; 100 ms to 1 hour).</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest wait between attempts (default 1 hour; at least <see cref="InitialBackoff"/>, at most 1 day).</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long an attempt waits for the receiver's answer (default 10 s; 1 s to 60 s).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The period of each webhook's durable reminder: it resumes deliveries after a silo is lost and picks up events
    /// whose announcement was missed (default 1 min; 5 s to 1 hour).
    /// </summary>
    public TimeSpan PumpPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Describes every problem with these options; empty when they are usable.</summary>
    public IEnumerable<string> Validate()
    {
        if (AllowedHosts is null || AllowedHosts.Length == 0 || AllowedHosts.Any(string.IsNullOrWhiteSpace))
        {
            yield return "Webhooks:AllowedHosts must list at least one host pattern (\"*\", \"*.example.com\" or a host), none empty.";
        }

        if (MaxAttempts is < 1 or > 50)
        {
            yield return "Webhooks:MaxAttempts must be between 1 and 50.";
        }

        if (InitialBackoff < TimeSpan.FromMilliseconds(100) || InitialBackoff > TimeSpan.FromHours(1))
        {
            yield return "Webhooks:InitialBackoff must be between 00:00:00.100 and 01:00:00.";
        }

        if (MaxBackoff < InitialBackoff || MaxBackoff > TimeSpan.FromDays(1))
        {
            yield return "Webhooks:MaxBackoff must be at least Webhooks:InitialBackoff and at most 1.00:00:00.";
        }

        if (Timeout < TimeSpan.FromSeconds(1) || Timeout > TimeSpan.FromSeconds(60))
        {
            yield return "Webhooks:Timeout must be between 00:00:01 and 00:01:00.";
        }

        if (PumpPeriod < TimeSpan.FromSeconds(5) || PumpPeriod > TimeSpan.FromHours(1))
        {
            yield return "Webhooks:PumpPeriod must be between 00:00:05 and 01:00:00.";
        }
    }
}
