using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Grains.Interfaces.Tenants;

namespace Orleans.Coordinator.Envoy;

/// <summary>
/// The rate-limit rules in force, read from <c>RateLimit:ConfigPath</c> (a YAML file, or a directory of them: the
/// runtime-directory layout envoyproxy/ratelimit users have, including a Kubernetes ConfigMap's <c>..data</c> symlink
/// swap) and reloaded when they change. A reload is atomic (one reference swap: a request sees the old rules or the
/// new, never a mix); a broken file keeps the last good rules and says so in the log, in
/// <c>coordinator_ratelimit_config_reloads_total{outcome="failed"}</c> and in <c>/readyz</c>. Counters belong to a
/// descriptor and its rule, so the counts of rules a reload leaves unchanged carry on.
/// </summary>
public sealed partial class EnvoyRateLimitRules : Hosting.IRateLimitRulesReport
{
    private static readonly Counter<long> Reloads = CoordinatorDiagnostics.Meter.CreateCounter<long>(
        "coordinator.ratelimit.config_reloads", "{reload}", "Reloads of the rate-limit rules by outcome (applied, failed).");

    private readonly Lock _apply = new();
    private ILogger _logger;
    private readonly bool _shadowMode;
    private EnvoyRateLimitConfig _files;
    private EnvoyRateLimitConfig _current;
    private string _fingerprint;
    private FleetRules _fleet = new(0, new Dictionary<string, (long, EnvoyRateLimitConfig)>(StringComparer.Ordinal), [], false);

    /// <summary>Loads the rules; throws <see cref="EnvoyConfigException"/> (file, line, reason) when they are broken at startup.</summary>
    /// <param name="path">A file or a directory of <c>.yaml</c>/<c>.yml</c> files; null or empty: no rules (every descriptor answers OK).</param>
    /// <param name="shadowMode">Every rule in shadow mode (<c>RateLimit:ShadowMode</c>).</param>
    /// <param name="logger">Where reloads are reported (the host's logger once it exists: <see cref="UseLogger"/>).</param>
    /// <param name="responseHeaders">Answers carry <c>x-ratelimit-*</c> headers for Envoy to add (<c>RateLimit:ResponseHeaders</c>).</param>
    /// <param name="nearLimitRatio">The share of a limit past which hits count as <c>near_limit</c> (<c>RateLimit:NearLimitRatio</c>, 0.8).</param>
    public EnvoyRateLimitRules(string? path, bool shadowMode, ILogger? logger = null, bool responseHeaders = false, double nearLimitRatio = 0.8)
    {
        ResponseHeaders = responseHeaders;
        NearLimitRatio = nearLimitRatio;
        Path = string.IsNullOrWhiteSpace(path) ? null : path;
        _shadowMode = shadowMode;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        (_files, _fingerprint) = Path is null ? (EnvoyRateLimitConfig.Empty, "") : Read(Path);
        _current = Combine(_files, _fleet);
        LoadedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>Reports reloads through <paramref name="logger"/> from now on; answers this instance.</summary>
    public EnvoyRateLimitRules UseLogger(ILogger<EnvoyRateLimitRules> logger)
    {
        _logger = logger;
        return this;
    }

    /// <summary>Answers carry <c>x-ratelimit-limit</c>, <c>x-ratelimit-remaining</c> and <c>x-ratelimit-reset</c> (envoyproxy/ratelimit's <c>RESPONSE_HEADERS_ENABLED</c>).</summary>
    public bool ResponseHeaders { get; }

    /// <summary>The share of a limit past which hits count as <c>near_limit</c>.</summary>
    public double NearLimitRatio { get; }

    /// <summary>The configured path, or null.</summary>
    public string? Path { get; }

    /// <summary>The rules in force.</summary>
    public EnvoyRateLimitConfig Current => Volatile.Read(ref _current);

    /// <summary>When the rules in force were loaded.</summary>
    public DateTimeOffset LoadedAt { get; private set; }

    /// <summary>Why the last reload failed (file, line, reason), or null when the rules in force are the newest.</summary>
    public string? LastError { get; private set; }

    /// <summary>The domains the files define (these win over a domain of the same name written through the API).</summary>
    public IReadOnlyCollection<string> FileDomains => Volatile.Read(ref _files).Domains;

    /// <summary>The revision of the fleet's domains in force here (0: none received yet, or none written).</summary>
    public long FleetRevision => Volatile.Read(ref _fleet).Revision;

    /// <summary>True once the fleet's domains were received from the cluster at least once.</summary>
    public bool FleetReceived => Volatile.Read(ref _fleet).Received;

    /// <summary>What <c>/readyz</c> says of the rules.</summary>
    public string Describe()
    {
        var fleet = Volatile.Read(ref _fleet);
        var rules = Path is null ? "no rules file" : $"{FileDomains.Count} domain(s) from {Path}, loaded {LoadedAt:O}";
        rules += fleet.Received
            ? $"; {fleet.Domains.Count} domain(s) from the API at revision {fleet.Revision}"
            : "; the API's domains are not received yet (the cluster did not answer)";
        var files = FileDomains;
        var shadowed = fleet.Domains.Keys.Where(files.Contains).Order(StringComparer.Ordinal).ToList();
        if (shadowed.Count > 0)
        {
            rules += $"; the files' rules serve here for {string.Join(", ", shadowed)}, also written through the API";
        }

        if (fleet.Broken.Length > 0)
        {
            rules += $"; API domains not applied here, their previous rules still serve: {string.Join("; ", fleet.Broken)}";
        }

        return LastError is null ? rules : $"{rules}; the last reload failed and the rules above still serve: {LastError}";
    }

    /// <summary>
    /// Applies the fleet's domains at <paramref name="set"/>'s revision (an older or equal revision than the one in
    /// force is ignored): each domain is parsed here; one that does not parse keeps its previous rules and is reported
    /// in <see cref="Describe"/>. A domain the files define is left to the files. Answers true when rules changed.
    /// </summary>
    public bool ApplyFleet(RateLimitDomainSet set)
    {
        ArgumentNullException.ThrowIfNull(set);
        lock (_apply)
        {
            var previous = _fleet;
            if (previous.Received && set.Revision <= previous.Revision)
            {
                return false;
            }

            var domains = new Dictionary<string, (long Version, EnvoyRateLimitConfig Rules)>(StringComparer.Ordinal);
            var broken = new List<string>();
            foreach (var document in set.Domains)
            {
                if (previous.Domains.TryGetValue(document.Domain, out var kept) && kept.Version == document.Version)
                {
                    domains[document.Domain] = kept;
                    continue;
                }

                try
                {
                    var parsed = EnvoyRateLimitConfig.Parse(document.Text, $"API domain '{document.Domain}' version {document.Version}");
                    if (parsed.Domains.Count != 1 || !parsed.Domains.Contains(document.Domain))
                    {
                        throw new EnvoyConfigException($"API domain '{document.Domain}' version {document.Version}: it must define that one domain.");
                    }

                    domains[document.Domain] = (document.Version, parsed);
                }
                catch (EnvoyConfigException ex)
                {
                    broken.Add(ex.Message);
                    LogReloadFailed(_logger, ex.Message);
                    if (kept.Rules is not null)
                    {
                        domains[document.Domain] = kept;
                    }
                }
            }

            var files = Volatile.Read(ref _files);
            var fleet = new FleetRules(set.Revision, domains, [.. broken], true);
            Volatile.Write(ref _fleet, fleet);
            Volatile.Write(ref _current, Combine(files, fleet));
            Reloads.Add(1, new KeyValuePair<string, object?>("outcome", broken.Count == 0 ? "applied" : "failed"));
            LogFleetApplied(_logger, set.Revision, string.Join(", ", domains.Keys));
            return true;
        }
    }

    /// <summary>Reads the path again and applies the rules when they changed; answers true when new rules were applied.</summary>
    public bool Reload()
    {
        if (Path is null)
        {
            return false;
        }

        string fingerprint;
        try
        {
            fingerprint = Fingerprint(Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Failed($"{Path}: {ex.Message}");
        }

        if (fingerprint == _fingerprint)
        {
            return false;
        }

        try
        {
            var (rules, read) = Read(Path);
            lock (_apply)
            {
                Volatile.Write(ref _files, rules);
                Volatile.Write(ref _current, Combine(rules, _fleet));
            }

            (_fingerprint, LoadedAt, LastError) = (read, DateTimeOffset.UtcNow, null);
            Reloads.Add(1, new KeyValuePair<string, object?>("outcome", "applied"));
            LogReloaded(_logger, string.Join(", ", rules.Domains), Path);
            return true;
        }
        catch (EnvoyConfigException ex)
        {
            _fingerprint = fingerprint; // reported once per broken version
            return Failed(ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Failed($"{Path}: {ex.Message}");
        }
    }

    private bool Failed(string reason)
    {
        if (LastError != reason)
        {
            Reloads.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            LogReloadFailed(_logger, reason);
        }

        LastError = reason;
        return false;
    }

    private (EnvoyRateLimitConfig Rules, string Fingerprint) Read(string path)
    {
        var files = Files(path);
        var fingerprint = Fingerprint(files);
        return (EnvoyRateLimitConfig.Merge(files.Select(f => EnvoyRateLimitConfig.Parse(File.ReadAllText(f), f))), fingerprint);
    }

    /// <summary>The files' domains, then each API domain the files do not define; every one in shadow mode when configured.</summary>
    private EnvoyRateLimitConfig Combine(EnvoyRateLimitConfig files, FleetRules fleet)
        => EnvoyRateLimitConfig.Merge([files, .. fleet.Domains.Where(d => !files.Domains.Contains(d.Key)).Select(d => d.Value.Rules)]).WithShadowMode(_shadowMode);

    /// <summary>The rule files: the path itself, or the directory's <c>.yaml</c>/<c>.yml</c> files (hidden ones, such as a ConfigMap's <c>..data</c>, skipped; symlinks followed).</summary>
    private static string[] Files(string path)
    {
        if (File.Exists(path))
        {
            return [path];
        }

        if (!Directory.Exists(path))
        {
            throw new EnvoyConfigException($"RateLimit:ConfigPath '{path}' is neither a file nor a directory.");
        }

        return [.. Directory.EnumerateFiles(path)
            .Where(f => !System.IO.Path.GetFileName(f).StartsWith('.'))
            .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)];
    }

    private static string Fingerprint(string path) => Fingerprint(Files(path));

    /// <summary>Names and contents (SHA-256): a symlink swap changes what the names read, not their times.</summary>
    private static string Fingerprint(string[] files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in files)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(file + "\n"));
            hash.AppendData(File.ReadAllBytes(file));
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Rate-limit rules reloaded: domains {Domains} from {Path}")]
    private static partial void LogReloaded(ILogger logger, string domains, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rate-limit domains from the API applied at revision {Revision}: {Domains}")]
    private static partial void LogFleetApplied(ILogger logger, long revision, string domains);

    [LoggerMessage(Level = LogLevel.Error, Message = "Rate-limit rules not reloaded, the last good rules still serve: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string reason);
}

/// <summary>The fleet's domains as parsed here.</summary>
/// <param name="Revision">The revision of the set they came from.</param>
/// <param name="Domains">Parsed rules by domain, with the version each was parsed from.</param>
/// <param name="Broken">Why domains did not parse here (their previous rules, if any, still serve).</param>
/// <param name="Received">False until the set was first received.</param>
internal sealed record FleetRules(long Revision, IReadOnlyDictionary<string, (long Version, EnvoyRateLimitConfig Rules)> Domains, string[] Broken, bool Received);

/// <summary>Looks at <c>RateLimit:ConfigPath</c> every 500 ms and reloads the rules when a file changed (new rules within 2 s).</summary>
internal sealed class EnvoyRateLimitRulesWatcher(EnvoyRateLimitRules rules) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(500);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (rules.Path is null)
        {
            return;
        }

        using var timer = new PeriodicTimer(Period);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            rules.Reload();
        }
    }
}
