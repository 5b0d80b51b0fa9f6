using System.Reflection;
using System.Text.RegularExpressions;
using Orleans.Coordinator.Grains.Domain;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Architecture;

/// <summary>The project references are the architecture (ARCHITECTURE section 1); these tests keep them so.</summary>
public sealed partial class DependencyRulesTests
{
    private const string DomainNamespace = "Orleans.Coordinator.Grains.Domain";

    [Fact]
    public void Domain_Types_ReferenceNoOrleansAssembly()
    {
        // Arrange
        var domainTypes = typeof(ConnectionLeaseBook).Assembly.GetTypes()
            .Where(t => t.Namespace == DomainNamespace && !IsCompilerGenerated(t))
            .ToList();
        Assert.NotEmpty(domainTypes);

        // Act
        var offenders = domainTypes
            .SelectMany(t => ReferencedTypes(t).Select(r => (Owner: t, Referenced: r)))
            .Where(x => IsOrleansRuntimeType(x.Referenced))
            .Select(x => $"{x.Owner.Name} -> {x.Referenced.FullName}")
            .Distinct()
            .ToList();

        // Assert
        Assert.True(offenders.Count == 0, "Grains/Domain must stay free of Orleans: " + string.Join(", ", offenders));
    }

    [Fact]
    public void Domain_SourceFiles_ImportNoOrleansNamespace()
    {
        var files = Directory.GetFiles(RepoPaths.Combine("Grains", "Domain"), "*.cs", SearchOption.AllDirectories);
        Assert.NotEmpty(files);

        var offenders = files
            .Where(f => File.ReadLines(f).Any(line => OrleansUsing().IsMatch(line)))
            .Select(Path.GetFileName)
            .ToList();

        Assert.True(offenders.Count == 0, "Grains/Domain files import Orleans: " + string.Join(", ", offenders));
    }

    [Fact]
    public void Gateway_OnlyEmbeddedSiloFile_UsesGrainsProject()
    {
        // Arrange: every Gateway source file except the embedded-silo hosting file.
        var gateway = RepoPaths.Combine("Gateway");
        var files = Directory.GetFiles(gateway, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(files, f => f.EndsWith(Path.Combine("Hosting", "EmbeddedSilo.cs"), StringComparison.Ordinal));

        // Act: any mention of a Grains namespace that is not Grains.Interfaces.
        var offenders = files
            .Where(f => !f.EndsWith(Path.Combine("Hosting", "EmbeddedSilo.cs"), StringComparison.Ordinal))
            .Where(f => GrainsNamespace().IsMatch(File.ReadAllText(f)))
            .Select(f => Path.GetRelativePath(gateway, f))
            .ToList();

        // Assert
        Assert.True(offenders.Count == 0, "Only Gateway/Hosting/EmbeddedSilo.cs may use the Grains project: " + string.Join(", ", offenders));
    }

    [Fact]
    public void Gateway_TypesOutsideEmbeddedSilo_ReferenceNoGrainsType()
    {
        // The compiled form of the rule above: no Gateway type but the embedded-silo host has a field,
        // property, parameter or return type from the Grains assembly.
        var grainsAssembly = typeof(ConnectionLeaseBook).Assembly;
        var gatewayTypes = typeof(Orleans.Coordinator.Hosting.GatewayHostingExtensions).Assembly.GetTypes()
            .Where(t => t.FullName?.StartsWith("Orleans.Coordinator.Hosting.EmbeddedSilo", StringComparison.Ordinal) != true);

        var offenders = gatewayTypes
            .SelectMany(t => ReferencedTypes(t).Select(r => (Owner: t, Referenced: r)))
            .Where(x => x.Referenced.Assembly == grainsAssembly)
            .Select(x => $"{x.Owner.FullName} -> {x.Referenced.FullName}")
            .Distinct()
            .ToList();

        Assert.True(offenders.Count == 0, "Gateway types reference Grains: " + string.Join(", ", offenders));
    }

    [Fact]
    public void GrainsInterfaces_References_OnlyOrleansSdkBclAndRedisClient()
    {
        var references = typeof(global::Orleans.Coordinator.Grains.Interfaces.GrainKeys).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        var offenders = references.Where(name =>
            !(name.StartsWith("System", StringComparison.Ordinal)
              || name.StartsWith("Microsoft.Extensions", StringComparison.Ordinal)
              // StackExchange.Redis: the connection helpers silo and gateway share (connection string, reconnect watchdog).
              || name is "netstandard" or "StackExchange.Redis" or "Orleans.Core.Abstractions" or "Orleans.Serialization" or "Orleans.Serialization.Abstractions" or "Orleans.Core"))
            .ToList();

        Assert.True(offenders.Count == 0, "Grains.Interfaces references: " + string.Join(", ", offenders));
    }

    private static IEnumerable<Type> ReferencedTypes(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var types = new List<Type>();
        if (type.BaseType is not null)
        {
            types.Add(type.BaseType);
        }

        types.AddRange(type.GetInterfaces());
        types.AddRange(type.GetCustomAttributesData().Select(a => a.AttributeType));
        types.AddRange(type.GetFields(all).Select(f => f.FieldType));
        types.AddRange(type.GetProperties(all).Select(p => p.PropertyType));
        foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            types.AddRange(method.GetParameters().Select(p => p.ParameterType));
            if (method is MethodInfo info)
            {
                types.Add(info.ReturnType);
            }

            types.AddRange(method.GetCustomAttributesData().Select(a => a.AttributeType));
        }

        return types.SelectMany(Expand);
    }

    private static IEnumerable<Type> Expand(Type type)
    {
        if (type.HasElementType)
        {
            foreach (var inner in Expand(type.GetElementType()!))
            {
                yield return inner;
            }

            yield break;
        }

        yield return type;
        if (type.IsGenericType)
        {
            foreach (var argument in type.GetGenericArguments().SelectMany(Expand))
            {
                yield return argument;
            }
        }
    }

    private static bool IsOrleansRuntimeType(Type type)
    {
        var assembly = type.Assembly.GetName().Name ?? string.Empty;
        return assembly.StartsWith("Orleans", StringComparison.Ordinal) && !assembly.StartsWith("Orleans.Coordinator", StringComparison.Ordinal)
               || (type.Namespace?.StartsWith("Orleans", StringComparison.Ordinal) == true
                   && type.Namespace.StartsWith("Orleans.Coordinator", StringComparison.Ordinal) == false);
    }

    private static bool IsCompilerGenerated(Type type)
        => type.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute), inherit: false);

    [GeneratedRegex(@"^\s*(global\s+)?using\s+(static\s+)?Orleans(?!\.Coordinator\.Grains\.Domain)\b")]
    private static partial Regex OrleansUsing();

    [GeneratedRegex(@"Orleans\.Coordinator\.Grains(?!\.Interfaces)\b")]
    private static partial Regex GrainsNamespace();
}
