using System.Globalization;
using Orleans.Coordinator.Grains.Interfaces.Tenants;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Orleans.Coordinator.Envoy;

/// <summary>A time unit of the envoyproxy/ratelimit configuration, with its proto number and length.</summary>
public sealed record EnvoyUnit(string Name, int ProtoValue, long WindowMs)
{
    private static readonly EnvoyUnit[] All =
    [
        new("second", 1, 1_000),
        new("minute", 2, 60_000),
        new("hour", 3, 3_600_000),
        new("day", 4, 86_400_000),
        new("week", 7, 7 * 86_400_000L),
        new("month", 5, 30L * 86_400_000),
        new("year", 6, 365L * 86_400_000),
    ];

    /// <summary>The unit of a configuration word (case-insensitive), or null.</summary>
    public static EnvoyUnit? FromName(string name) => All.FirstOrDefault(u => u.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The unit of a proto enum value, or null.</summary>
    public static EnvoyUnit? FromProto(int value) => All.FirstOrDefault(u => u.ProtoValue == value);
}

/// <summary>A rule's limit: requests per unit, or unlimited.</summary>
public sealed record EnvoyLimit(string? Name, long RequestsPerUnit, EnvoyUnit Unit, bool Unlimited)
{
    /// <summary>The fixed-window policy that enforces it, as envoyproxy/ratelimit counts (windows aligned to the unit).</summary>
    public RateLimitPolicy ToPolicy(bool shadow) => new(RateLimitAlgorithm.FixedWindow, RequestsPerUnit, Unit.WindowMs, 0, shadow);
}

/// <summary>One node of the descriptor tree.</summary>
public sealed class EnvoyDescriptorRule
{
    /// <summary>The entry key it matches.</summary>
    public required string Key { get; init; }

    /// <summary>The entry value it matches; null matches any value (each value gets its own counter).</summary>
    public string? Value { get; init; }

    /// <summary>The limit, when this node has one.</summary>
    public EnvoyLimit? Limit { get; init; }

    /// <summary>Count and report, but never answer OVER_LIMIT.</summary>
    public bool ShadowMode { get; init; }

    /// <summary>Nested rules, by "key" and "key_value".</summary>
    public Dictionary<string, EnvoyDescriptorRule> Children { get; } = new(StringComparer.Ordinal);
}

/// <summary>What a request descriptor matched.</summary>
/// <param name="Limit">The limit (null: no rule applies, answer OK without counting).</param>
/// <param name="ShadowMode">The matched rule is in shadow mode.</param>
public sealed record EnvoyMatch(EnvoyLimit? Limit, bool ShadowMode);

/// <summary>
/// A rate-limit configuration in the format of envoyproxy/ratelimit: <c>domain</c>, nested
/// <c>descriptors</c> with <c>key</c>/<c>value</c>, <c>rate_limit</c> (<c>unit</c>, <c>requests_per_unit</c>,
/// <c>unlimited</c>, <c>name</c>) and <c>shadow_mode</c>. Matching follows that service: walk the request's
/// entries down the tree, preferring <c>key_value</c> over <c>key</c>; the limit of the node reached by the
/// last entry applies.
/// </summary>
public sealed class EnvoyRateLimitConfig
{
    private readonly Dictionary<string, Dictionary<string, EnvoyDescriptorRule>> _domains;

    private EnvoyRateLimitConfig(Dictionary<string, Dictionary<string, EnvoyDescriptorRule>> domains) => _domains = domains;

    /// <summary>An empty configuration: every descriptor answers OK.</summary>
    public static EnvoyRateLimitConfig Empty { get; } = new(new Dictionary<string, Dictionary<string, EnvoyDescriptorRule>>(StringComparer.Ordinal));

    /// <summary>The configured domains.</summary>
    public IReadOnlyCollection<string> Domains => _domains.Keys;

    /// <summary>Loads a file; throws <see cref="EnvoyConfigException"/> naming the line and the reason.</summary>
    public static EnvoyRateLimitConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new EnvoyConfigException($"RateLimit:ConfigFile '{path}' does not exist.");
        }

        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses YAML text; one document per domain (several documents separated by <c>---</c> are allowed).</summary>
    public static EnvoyRateLimitConfig Parse(string yaml, string source = "rate-limit config")
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new EnvoyConfigException($"{source} line {ex.Start.Line}: {ex.Message}");
        }

        var domains = new Dictionary<string, Dictionary<string, EnvoyDescriptorRule>>(StringComparer.Ordinal);
        foreach (var document in stream.Documents)
        {
            var root = document.RootNode as YamlMappingNode ?? throw Error(source, document.RootNode, "the file must be a mapping with 'domain' and 'descriptors'.");
            var domain = RequiredScalar(source, root, "domain");
            if (domains.ContainsKey(domain))
            {
                throw Error(source, root, $"domain '{domain}' is defined twice.");
            }

            domains[domain] = ParseDescriptors(source, root, depth: 0);
        }

        return new EnvoyRateLimitConfig(domains);
    }

    /// <summary>Finds the rule for one request descriptor of <paramref name="domain"/>.</summary>
    public EnvoyMatch Match(string domain, IReadOnlyList<(string Key, string Value)> entries)
    {
        if (!_domains.TryGetValue(domain, out var level) || entries.Count == 0)
        {
            return new EnvoyMatch(null, false);
        }

        for (var i = 0; i < entries.Count; i++)
        {
            var (key, value) = entries[i];
            if (!level.TryGetValue($"{key}_{value}", out var rule) && !level.TryGetValue(key, out rule))
            {
                return new EnvoyMatch(null, false);
            }

            if (i == entries.Count - 1)
            {
                return new EnvoyMatch(rule.Limit, rule.ShadowMode);
            }

            level = rule.Children;
        }

        return new EnvoyMatch(null, false);
    }

    private static Dictionary<string, EnvoyDescriptorRule> ParseDescriptors(string source, YamlMappingNode node, int depth)
    {
        var rules = new Dictionary<string, EnvoyDescriptorRule>(StringComparer.Ordinal);
        if (!node.Children.TryGetValue(new YamlScalarNode("descriptors"), out var list))
        {
            return rules;
        }

        if (depth > 16)
        {
            throw Error(source, list, "descriptors are nested more than 16 levels deep.");
        }

        if (list is not YamlSequenceNode sequence)
        {
            throw Error(source, list, "'descriptors' must be a list.");
        }

        foreach (var item in sequence)
        {
            var mapping = item as YamlMappingNode ?? throw Error(source, item, "each descriptor must be a mapping with 'key'.");
            foreach (var field in mapping.Children.Keys.OfType<YamlScalarNode>())
            {
                if (field.Value is not ("key" or "value" or "rate_limit" or "shadow_mode" or "descriptors" or "detailed_metric" or "quota_mode"))
                {
                    throw Error(source, field, $"unknown descriptor field '{field.Value}'.");
                }
            }

            var key = RequiredScalar(source, mapping, "key");
            var value = OptionalScalar(source, mapping, "value");
            var rule = new EnvoyDescriptorRule
            {
                Key = key,
                Value = value,
                Limit = ParseLimit(source, mapping),
                ShadowMode = OptionalBool(source, mapping, "shadow_mode"),
            };
            foreach (var (childKey, child) in ParseDescriptors(source, mapping, depth + 1))
            {
                rule.Children[childKey] = child;
            }

            var id = value is null ? key : $"{key}_{value}";
            if (!rules.TryAdd(id, rule))
            {
                throw Error(source, mapping, $"duplicate descriptor '{id}'.");
            }
        }

        return rules;
    }

    private static EnvoyLimit? ParseLimit(string source, YamlMappingNode descriptor)
    {
        if (!descriptor.Children.TryGetValue(new YamlScalarNode("rate_limit"), out var node))
        {
            return null;
        }

        var limit = node as YamlMappingNode ?? throw Error(source, node, "'rate_limit' must be a mapping.");
        var unlimited = OptionalBool(source, limit, "unlimited");
        var name = OptionalScalar(source, limit, "name");
        if (unlimited)
        {
            return new EnvoyLimit(name, 0, EnvoyUnit.FromName("second")!, true);
        }

        var unitText = RequiredScalar(source, limit, "unit");
        var unit = EnvoyUnit.FromName(unitText)
            ?? throw Error(source, limit.Children[new YamlScalarNode("unit")], $"unknown unit '{unitText}' (second, minute, hour, day, week, month or year).");
        var countNode = limit.Children.TryGetValue(new YamlScalarNode("requests_per_unit"), out var c) ? c : null;
        if (countNode is not YamlScalarNode { Value: { } countText }
            || !long.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            || count < 0 || count > uint.MaxValue)
        {
            throw Error(source, countNode ?? limit, "'requests_per_unit' must be a whole number from 0 to 4294967295.");
        }

        return new EnvoyLimit(name, count, unit, false);
    }

    private static string RequiredScalar(string source, YamlMappingNode node, string name)
        => OptionalScalar(source, node, name) is { Length: > 0 } value ? value : throw Error(source, node, $"'{name}' is required.");

    private static string? OptionalScalar(string source, YamlMappingNode node, string name)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(name), out var value))
        {
            return null;
        }

        return value is YamlScalarNode scalar ? scalar.Value : throw Error(source, value, $"'{name}' must be a single value.");
    }

    private static bool OptionalBool(string source, YamlMappingNode node, string name)
    {
        var text = OptionalScalar(source, node, name);
        return text switch
        {
            null => false,
            "true" or "True" or "TRUE" => true,
            "false" or "False" or "FALSE" => false,
            _ => throw Error(source, node.Children[new YamlScalarNode(name)], $"'{name}' must be true or false."),
        };
    }

    private static EnvoyConfigException Error(string source, YamlNode node, string reason)
        => new($"{source} line {node.Start.Line}: {reason}");
}

/// <summary>The rate-limit configuration file is malformed; the message names the line and the reason.</summary>
public sealed class EnvoyConfigException(string message) : InvalidOperationException(message);
