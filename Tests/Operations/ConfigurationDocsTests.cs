using System.Reflection;
using System.Text.RegularExpressions;
using Orleans.Coordinator.Envoy;
using Orleans.Coordinator.Grains.Coordination;
using Orleans.Coordinator.Grains.Identity;
using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Hosting;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Operations;

/// <summary>docs/configuration.md lists exactly the keys the options classes bind.</summary>
public sealed partial class ConfigurationDocsTests
{
    private static readonly (string Section, Type Options)[] Sections =
    [
        (CoordinatorRedisOptions.SectionName, typeof(CoordinatorRedisOptions)),
        (CoordinatorClusterOptions.SectionName, typeof(CoordinatorClusterOptions)),
        (CoordinatorTlsOptions.SectionName, typeof(CoordinatorTlsOptions)),
        (LeaseOptions.SectionName, typeof(LeaseOptions)),
        (MappingOptions.SectionName, typeof(MappingOptions)),
        (CoordinatorGatewayOptions.SectionName, typeof(CoordinatorGatewayOptions)),
        (SecurityOptions.SectionName, typeof(SecurityOptions)),
        (InstanceOptions.SectionName, typeof(InstanceOptions)),
        (CacheOptions.SectionName, typeof(CacheOptions)),
        (WebhookOptions.SectionName, typeof(WebhookOptions)),
        (ExtAuthzOptions.SectionName, typeof(ExtAuthzOptions)),
        (AuthOptions.SectionName, typeof(AuthOptions)),
        (Orleans.Coordinator.Resilience.ResilienceOptions.SectionName, typeof(Orleans.Coordinator.Resilience.ResilienceOptions)),
    ];

    /// <summary>Keys read without an options class.</summary>
    private static readonly string[] Extra = ["RateLimit:ConfigFile", "RateLimit:ConfigPath", "RateLimit:ShadowMode", "RateLimit:ResponseHeaders", "RateLimit:NearLimitRatio", "Urls", "OTEL_EXPORTER_OTLP_ENDPOINT", "Logging:Console:FormatterName", "Logging:LogLevel:*"];

    [Fact]
    public void EveryValidatedOptionsClass_IsCheckedAgainstThePage()
    {
        // A new options class cannot be left out of the list above (and so of the page).
        var assemblies = new[] { typeof(CacheOptions).Assembly, typeof(Orleans.Coordinator.Grains.Webhooks.WebhookSender).Assembly, typeof(AuthOptions).Assembly };
        var validated = assemblies.SelectMany(a => a.GetTypes())
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IValidatableOptions).IsAssignableFrom(t))
            .ToHashSet();

        Assert.Empty(validated.Except(Sections.Select(s => s.Options)).Select(t => t.Name));
    }

    [Fact]
    public void ConfigurationDoc_ListsEveryBoundKey_AndNoOther()
    {
        var documented = DocumentedKey().Matches(File.ReadAllText(RepoPaths.Combine("docs", "configuration.md")))
            .Select(m => m.Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);
        var bound = Sections
            .SelectMany(s => s.Options.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.CanWrite)
                .Select(p => $"{s.Section}:{p.Name}"))
            .Concat(Extra)
            .ToHashSet(StringComparer.Ordinal);

        Assert.True(bound.Except(documented).ToList() is { Count: 0 } missing, "not in docs/configuration.md: " + string.Join(", ", bound.Except(documented)));
        Assert.True(documented.Except(bound).ToList() is { Count: 0 }, "documented but bound by nothing: " + string.Join(", ", documented.Except(bound)));
    }

    [Fact]
    public void ConfigurationDoc_Defaults_MatchTheOptionsClasses()
    {
        var doc = File.ReadAllText(RepoPaths.Combine("docs", "configuration.md"));
        var rows = DocumentedRow().Matches(doc).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
        var checkedCount = 0;
        foreach (var (section, type) in Sections)
        {
            var instance = Activator.CreateInstance(type)!;
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
            {
                var value = property.GetValue(instance);
                var expected = value switch
                {
                    TimeSpan t => t.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
                    bool b => b ? "true" : "false",
                    string s => s,
                    Enum e => e.ToString(),
                    int or long => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
                    _ => null,
                };
                if (expected is null || !rows.TryGetValue($"{section}:{property.Name}", out var documented) || documented.StartsWith('(') || documented == "empty")
                {
                    continue;
                }

                Assert.True(documented.Contains($"`{expected}`", StringComparison.Ordinal), $"{section}:{property.Name}: documented {documented}, default is {expected}");
                checkedCount++;
            }
        }

        Assert.True(checkedCount >= 30, $"only {checkedCount} defaults were compared");
    }

    [GeneratedRegex(@"^\| `([A-Za-z_]+(?::[A-Za-z*]+)*)` \|", RegexOptions.Multiline)]
    private static partial Regex DocumentedKey();

    [GeneratedRegex(@"^\| `([A-Za-z_]+(?::[A-Za-z*]+)*)` \| [^|]+ \| ([^|]+) \|", RegexOptions.Multiline)]
    private static partial Regex DocumentedRow();
}
