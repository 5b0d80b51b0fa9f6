using System.Reflection;
using Orleans.Coordinator.Grains.Domain;

namespace Orleans.Coordinator.Tests.Architecture;

/// <summary>Every [GenerateSerializer] type carries [Alias], and every member it serializes carries [Id].</summary>
public sealed class SerializationRulesTests
{
    public static TheoryData<string> SerializableTypes()
    {
        var data = new TheoryData<string>();
        foreach (var type in Assemblies().SelectMany(a => a.GetTypes()).Where(t => t.IsDefined(typeof(GenerateSerializerAttribute), false)))
        {
            data.Add(type.FullName!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SerializableTypes))]
    public void GenerateSerializerType_HasAliasAndIdOnEveryMember(string typeName)
    {
        var type = Assemblies().Select(a => a.GetType(typeName)).Single(t => t is not null)!;

        Assert.True(type.IsDefined(typeof(AliasAttribute), false), $"{typeName} lacks [Alias]");
        var members = type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(p => p.GetMethod is not null && p.Name != "EqualityContract")
            .ToList();
        // An exception may add nothing to what Exception itself serializes; every other type carries data.
        Assert.True(members.Count > 0 || typeof(Exception).IsAssignableFrom(type), $"{typeName} serializes nothing");
        var missing = members.Where(p => !p.IsDefined(typeof(IdAttribute), false)).Select(p => p.Name).ToList();
        Assert.True(missing.Count == 0, $"{typeName} members without [Id]: {string.Join(", ", missing)}");
    }

    private static Assembly[] Assemblies() =>
    [
        typeof(global::Orleans.Coordinator.Grains.Interfaces.GrainKeys).Assembly,
        typeof(ConnectionLeaseBook).Assembly,
    ];
}
