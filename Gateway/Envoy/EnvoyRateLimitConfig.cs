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

/// <summary>A rule's limit: requests per unit, or unlimited; <paramref name="Replaces"/> names the limits it replaces.</summary>
public sealed record EnvoyLimit(string? Name, long RequestsPerUnit, EnvoyUnit Unit, bool Unlimited, IReadOnlyList<string>? Replaces = null)
{
    /// <summary>The fixed-window policy that enforces it, as envoyproxy/ratelimit counts (windows aligned to the unit).</summary>
    public RateLimitPolicy ToPolicy(bool shadow) => new(RateLimitAlgorithm.FixedWindow, RequestsPerUnit, Unit.WindowMs, 0, shadow);
}

/// <summary>One node of the descriptor tree.</summary>
public sealed class EnvoyDescriptorRule
{
    /// <summary>The entry key it matches.</summary>
    public required string Key { get; init; }

    /// <summary>
    /// The entry value it matches; null matches any value (each value gets its own counter). A value holding <c>*</c> is
    /// a pattern: each <c>*</c> matches zero or more characters (<c>foo*</c>, <c>/api/*/action</c>), and each matched
    /// value has its own counter unless <see cref="ShareThreshold"/>.
    /// </summary>
    public string? Value { get; init; }

    /// <summary>True when <see cref="Value"/> is a pattern (holds <c>*</c>).</summary>
    public bool IsWildcard => WildcardParts is not null;

    /// <summary>The pattern split at each <c>*</c> (null when <see cref="Value"/> is not a pattern).</summary>
    public string[]? WildcardParts { get; init; }

    /// <summary>Its position among its siblings: of several patterns that match, the first declared wins (as envoyproxy/ratelimit).</summary>
    public int Order { get; init; }

    /// <summary>Every value this pattern matches counts on one counter (<c>share_threshold</c>).</summary>
    public bool ShareThreshold { get; init; }

    /// <summary>Statistics carry the request's value for this entry (<c>value_to_metric</c>).</summary>
    public bool ValueToMetric { get; init; }

    /// <summary>True when <paramref name="value"/> matches the pattern: each <c>*</c> stands for zero or more characters, the literal parts in order.</summary>
    public bool Matches(string value)
    {
        var parts = WildcardParts!;
        var first = parts[0];
        var last = parts[^1];
        if (value.Length < first.Length + last.Length || !value.StartsWith(first, StringComparison.Ordinal) || !value.EndsWith(last, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = value.AsSpan(first.Length, value.Length - first.Length - last.Length);
        for (var i = 1; i < parts.Length - 1; i++)
        {
            var at = rest.IndexOf(parts[i], StringComparison.Ordinal);
            if (at < 0)
            {
                return false;
            }

            rest = rest[(at + parts[i].Length)..];
        }

        return true;
    }

    /// <summary>The rule's path from the domain, e.g. <c>database_users.client_id</c>: its name in statistics.</summary>
    public string Path { get; init; } = "";

    /// <summary>Statistics carry the descriptor's values (<c>detailed_metric</c>), not only the rule's path.</summary>
    public bool DetailedMetric { get; init; }

    /// <summary>The limit, when this node has one.</summary>
    public EnvoyLimit? Limit { get; init; }

    /// <summary>Count and report, but never answer OVER_LIMIT.</summary>
    public bool ShadowMode { get; init; }

    /// <summary>Nested rules, by "key" and "key_value" (wildcards by "key_prefix*").</summary>
    public Dictionary<string, EnvoyDescriptorRule> Children { get; } = new(StringComparer.Ordinal);
}

/// <summary>What a request descriptor matched.</summary>
/// <param name="Limit">The limit (null: no rule applies, answer OK without counting).</param>
/// <param name="ShadowMode">The matched rule, or the whole configuration, is in shadow mode.</param>
/// <param name="Rule">The matched rule (null when none).</param>
/// <param name="SharedPatterns">Per entry, the pattern whose values share one counter (<c>share_threshold</c>), or null; null when none.</param>
/// <param name="MetricDescriptor">The <c>descriptor</c> label of its statistics (<c>detailed_metric</c> or <c>value_to_metric</c>), or null.</param>
public sealed record EnvoyMatch(EnvoyLimit? Limit, bool ShadowMode, EnvoyDescriptorRule? Rule = null, string?[]? SharedPatterns = null, string? MetricDescriptor = null);

/// <summary>
/// A rate-limit configuration in the format of envoyproxy/ratelimit: <c>domain</c>, nested
/// <c>descriptors</c> with <c>key</c>/<c>value</c> (<c>*</c> patterns allowed), <c>rate_limit</c> (<c>unit</c>,
/// <c>requests_per_unit</c>, <c>unlimited</c>, <c>name</c>, <c>replaces</c>), <c>shadow_mode</c>,
/// <c>detailed_metric</c>, <c>value_to_metric</c>, <c>share_threshold</c> and <c>quota_mode</c> (accepted, ignored).
/// Matching follows that service: walk the request's entries down the tree, preferring <c>key_value</c>, then the first
/// declared pattern that matches, then <c>key</c>; the limit of the node reached by the last entry applies.
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
            Screen(yaml, source);
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new EnvoyConfigException($"{source} line {ex.Start.Line}: {ex.Message}");
        }

        var domains = new Dictionary<string, Dictionary<string, EnvoyDescriptorRule>>(StringComparer.Ordinal);
        var rulesSoFar = new System.Runtime.CompilerServices.StrongBox<int>(0);
        foreach (var document in stream.Documents)
        {
            var root = document.RootNode as YamlMappingNode ?? throw Error(source, document.RootNode, "the file must be a mapping with 'domain' and 'descriptors'.");
            var domain = RequiredScalar(source, root, "domain");
            if (domains.ContainsKey(domain))
            {
                throw Error(source, root, $"domain '{domain}' is defined twice.");
            }

            domains[domain] = ParseDescriptors(source, root, depth: 0, parentPath: "", rulesSoFar);
        }

        return new EnvoyRateLimitConfig(domains) { Source = source };
    }

    /// <summary>Deepest nesting of mappings and lists a rules text may have (16 descriptor levels need 37).</summary>
    private const int MaxNesting = 64;

    /// <summary>Most descriptor rules one text may define.</summary>
    public const int MaxRules = 10_000;

    /// <summary>
    /// Reads the text's events before any node is built, refusing anchors and aliases (a few bytes of aliases can stand
    /// for billions of rules) and nesting deeper than <see cref="MaxNesting"/> (which would exhaust the stack).
    /// </summary>
    private static void Screen(string yaml, string source)
    {
        var parser = new YamlDotNet.Core.Parser(new StringReader(yaml));
        var depth = 0;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.AnchorAlias alias:
                    throw new EnvoyConfigException($"{source} line {alias.Start.Line}: aliases (*{alias.Value}) are not allowed; write the rules out.");
                case YamlDotNet.Core.Events.NodeEvent { Anchor.IsEmpty: false } anchored:
                    throw new EnvoyConfigException($"{source} line {anchored.Start.Line}: anchors (&{anchored.Anchor}) are not allowed; write the rules out.");
            }

            if (parser.Current is YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart && ++depth > MaxNesting)
            {
                throw new EnvoyConfigException($"{source} line {parser.Current.Start.Line}: nested more than {MaxNesting} levels deep.");
            }

            if (parser.Current is YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd)
            {
                depth--;
            }
        }
    }

    /// <summary>
    /// The domains of several parsed files together. Throws <see cref="EnvoyConfigException"/> when a domain is defined
    /// in more than one (naming both).
    /// </summary>
    public static EnvoyRateLimitConfig Merge(IEnumerable<EnvoyRateLimitConfig> configs)
    {
        var domains = new Dictionary<string, Dictionary<string, EnvoyDescriptorRule>>(StringComparer.Ordinal);
        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var config in configs)
        {
            foreach (var (domain, rules) in config._domains)
            {
                if (!domains.TryAdd(domain, rules))
                {
                    throw new EnvoyConfigException($"{config.Source}: domain '{domain}' is also defined in {sources[domain]}.");
                }

                sources[domain] = config.Source;
            }
        }

        return new EnvoyRateLimitConfig(domains);
    }

    /// <summary>The rules, one line per rule: <c>{domain}.{path}: {limit}</c> and its flags (what <c>GET /rlconfig</c> answers).</summary>
    public string Dump()
    {
        var lines = new System.Text.StringBuilder();
        foreach (var (domain, rules) in _domains.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            Walk(domain, rules.Values);
        }

        return lines.ToString();

        void Walk(string domain, IEnumerable<EnvoyDescriptorRule> level)
        {
            foreach (var rule in level.OrderBy(r => r.Path, StringComparer.Ordinal))
            {
                var limit = rule.Limit switch
                {
                    null => "no limit",
                    { Unlimited: true } => "unlimited",
                    { } l => $"{l.RequestsPerUnit} per {l.Unit.Name}",
                };
                lines.Append(CultureInfo.InvariantCulture, $"{domain}.{rule.Path}: {limit}");
                if (rule.Limit?.Name is { } name)
                {
                    lines.Append(CultureInfo.InvariantCulture, $", name {name}");
                }

                if (rule.Limit?.Replaces is { Count: > 0 } replaces)
                {
                    lines.Append(CultureInfo.InvariantCulture, $", replaces {string.Join(" ", replaces)}");
                }

                if (rule.ShadowMode || ShadowMode)
                {
                    lines.Append(", shadow_mode");
                }

                if (rule.DetailedMetric)
                {
                    lines.Append(", detailed_metric");
                }

                if (rule.ValueToMetric)
                {
                    lines.Append(", value_to_metric");
                }

                if (rule.ShareThreshold)
                {
                    lines.Append(", share_threshold");
                }

                lines.Append('\n');
                Walk(domain, rule.Children.Values);
            }
        }
    }

    /// <summary>Where these rules were read from.</summary>
    public string Source { get; private init; } = "";

    /// <summary>
    /// Finds the rule for one request descriptor of <paramref name="domain"/>, as envoyproxy/ratelimit does: each entry
    /// matches its level's exact <c>key_value</c>, else the first declared pattern of that key that matches, else the
    /// key alone; the rule reached by the last entry applies (a request with more entries than the rules have levels
    /// matches nothing).
    /// </summary>
    public EnvoyMatch Match(string domain, IReadOnlyList<(string Key, string Value)> entries)
    {
        if (!_domains.TryGetValue(domain, out var level) || entries.Count == 0)
        {
            return new EnvoyMatch(null, false);
        }

        string?[]? shared = null;
        var valueToMetric = false;
        var path = new EnvoyDescriptorRule[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            var (key, value) = entries[i];
            if (!level.TryGetValue($"{key}_{value}", out var rule) && (rule = Wildcard(level, key, value)) is null && !level.TryGetValue(key, out rule))
            {
                return new EnvoyMatch(null, false);
            }

            path[i] = rule;
            valueToMetric |= rule.ValueToMetric;
            if (rule.ShareThreshold)
            {
                (shared ??= new string?[entries.Count])[i] = rule.Value;
            }

            if (i == entries.Count - 1)
            {
                var metric = rule.DetailedMetric || valueToMetric ? MetricDescriptor(entries, path, shared, rule.DetailedMetric) : null;
                return new EnvoyMatch(rule.Limit, rule.ShadowMode || ShadowMode, rule, shared, metric);
            }

            level = rule.Children;
        }

        return new EnvoyMatch(null, false);
    }

    /// <summary>
    /// The <c>descriptor</c> label: with <c>detailed_metric</c>, every entry's <c>key_value</c>; otherwise (some level has
    /// <c>value_to_metric</c>) each entry as its rule names it, with the request's value where the rule has
    /// <c>value_to_metric</c> or names a value. An entry whose values share a counter shows its pattern.
    /// </summary>
    private static string MetricDescriptor(IReadOnlyList<(string Key, string Value)> entries, EnvoyDescriptorRule[] path, string?[]? shared, bool detailed)
    {
        var label = new System.Text.StringBuilder();
        for (var i = 0; i < entries.Count; i++)
        {
            var (key, value) = entries[i];
            var rule = path[i];
            var shown = shared?[i] ?? (detailed || rule.ValueToMetric ? value : rule.Value);
            label.Append(i == 0 ? "" : ".").Append(key);
            if (shown is not null)
            {
                label.Append('_').Append(shown);
            }
        }

        return label.ToString();
    }

    /// <summary>Every rule is in shadow mode (envoyproxy/ratelimit's <c>SHADOW_MODE</c>; <c>RateLimit:ShadowMode</c>).</summary>
    public bool ShadowMode { get; init; }

    /// <summary>The same rules with every one in shadow mode when <paramref name="shadow"/> is true.</summary>
    public EnvoyRateLimitConfig WithShadowMode(bool shadow) => new(_domains) { ShadowMode = shadow, Source = Source };

    /// <summary>The first declared pattern of <paramref name="key"/> at this level that <paramref name="value"/> matches.</summary>
    private static EnvoyDescriptorRule? Wildcard(Dictionary<string, EnvoyDescriptorRule> level, string key, string value)
    {
        EnvoyDescriptorRule? first = null;
        foreach (var rule in level.Values)
        {
            if (rule.IsWildcard && rule.Key == key && (first is null || rule.Order < first.Order) && rule.Matches(value))
            {
                first = rule;
            }
        }

        return first;
    }

    private static Dictionary<string, EnvoyDescriptorRule> ParseDescriptors(string source, YamlMappingNode node, int depth, string parentPath, System.Runtime.CompilerServices.StrongBox<int> rulesSoFar)
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
            if (++rulesSoFar.Value > MaxRules)
            {
                throw Error(source, item, $"more than {MaxRules} descriptor rules.");
            }

            foreach (var field in mapping.Children.Keys.OfType<YamlScalarNode>())
            {
                if (field.Value is not ("key" or "value" or "rate_limit" or "shadow_mode" or "descriptors" or "detailed_metric" or "quota_mode"
                    or "value_to_metric" or "share_threshold"))
                {
                    throw Error(source, field, $"unknown descriptor field '{field.Value}'.");
                }
            }

            var key = RequiredScalar(source, mapping, "key");
            var value = OptionalScalar(source, mapping, "value");
            var shareThreshold = OptionalBool(source, mapping, "share_threshold");
            if (shareThreshold && value?.Contains('*', StringComparison.Ordinal) != true)
            {
                throw Error(source, mapping, $"share_threshold is only for a value with a wildcard '*' (key '{key}').");
            }

            var id = value is null ? key : $"{key}_{value}";
            var path = parentPath.Length == 0 ? id : $"{parentPath}.{id}";
            var rule = new EnvoyDescriptorRule
            {
                Key = key,
                Value = value,
                Path = path,
                Limit = ParseLimit(source, mapping),
                ShadowMode = OptionalBool(source, mapping, "shadow_mode"),
                DetailedMetric = OptionalBool(source, mapping, "detailed_metric"),
                ValueToMetric = OptionalBool(source, mapping, "value_to_metric"),
                ShareThreshold = shareThreshold,
                WildcardParts = value?.Contains('*', StringComparison.Ordinal) == true ? value.Split('*') : null,
                Order = rules.Count,
            };
            foreach (var (childKey, child) in ParseDescriptors(source, mapping, depth + 1, path, rulesSoFar))
            {
                rule.Children[childKey] = child;
            }

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
        foreach (var field in limit.Children.Keys.OfType<YamlScalarNode>())
        {
            if (field.Value is not ("unit" or "requests_per_unit" or "unlimited" or "name" or "replaces"))
            {
                throw Error(source, field, $"unknown rate_limit field '{field.Value}'.");
            }
        }

        var unlimited = OptionalBool(source, limit, "unlimited");
        var name = OptionalScalar(source, limit, "name");
        var replaces = ParseReplaces(source, limit);
        if (unlimited)
        {
            return new EnvoyLimit(name, 0, EnvoyUnit.FromName("second")!, true, replaces);
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

        return new EnvoyLimit(name, count, unit, false, replaces);
    }

    /// <summary><c>replaces: [{name: other}]</c>: when this rule matches, a rule named <c>other</c> matched by the same request is not evaluated.</summary>
    private static IReadOnlyList<string>? ParseReplaces(string source, YamlMappingNode limit)
    {
        if (!limit.Children.TryGetValue(new YamlScalarNode("replaces"), out var node))
        {
            return null;
        }

        if (node is not YamlSequenceNode list)
        {
            throw Error(source, node, "'replaces' must be a list of {name: ...}.");
        }

        var names = new List<string>();
        foreach (var item in list)
        {
            if (item is not YamlMappingNode entry || entry.Children.Count != 1 || OptionalScalar(source, entry, "name") is not { Length: > 0 } replaced)
            {
                throw Error(source, item, "each 'replaces' entry must be {name: <the name of another rate_limit>}.");
            }

            names.Add(replaced);
        }

        return names;
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
