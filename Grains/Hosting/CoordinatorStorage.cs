namespace Orleans.Coordinator.Grains.Hosting;

/// <summary>Names shared by the grains and their hosting.</summary>
public static class CoordinatorStorage
{
    /// <summary>The grain storage provider every coordinator grain persists to.</summary>
    public const string Name = "coordinator";
}
