using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Orleans.Coordinator.Grains.Interfaces;

/// <summary>
/// Grain references for the hot paths. <see cref="IGrainFactory.GetGrain{TGrainInterface}(string, string)"/> resolves the
/// interface's grain-interface type through reflection on every call (measured: 10% of a gateway's CPU on the
/// rate-limit path); this resolves it once per factory and interface and then builds each reference from its
/// <see cref="GrainId"/>. The references are the same ones <c>GetGrain</c> returns.
/// </summary>
public static class GrainReferences
{
    private static readonly ConditionalWeakTable<IGrainFactory, ConcurrentDictionary<Type, (GrainType Type, GrainInterfaceType Interface)>> Resolved = new();

    /// <summary>The reference of the grain of interface <typeparamref name="T"/> with string key <paramref name="key"/>.</summary>
    public static T Get<T>(this IGrainFactory grains, string key)
        where T : IGrainWithStringKey
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(key);
        var types = Resolved.GetValue(grains, static _ => new ConcurrentDictionary<Type, (GrainType, GrainInterfaceType)>());
        if (!types.TryGetValue(typeof(T), out var resolved))
        {
            // One reflective resolution through the factory itself, so placement prefixes and aliases match GetGrain's.
            var probe = (GrainReference)(object)grains.GetGrain<T>(key);
            resolved = (probe.GrainId.Type, probe.InterfaceType);
            types.TryAdd(typeof(T), resolved);
            return (T)(object)probe;
        }

        return (T)grains.GetGrain(GrainId.Create(resolved.Type, key), resolved.Interface);
    }
}
