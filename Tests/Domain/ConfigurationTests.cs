using Orleans.Coordinator.Grains.Interfaces.Configuration;
using Orleans.Coordinator.Grains.Leases;
using Orleans.Coordinator.Hosting;

namespace Orleans.Coordinator.Tests.Domain;

public sealed class ConfigurationTests
{
    [Theory]
    [InlineData("127.0.0.1:6379", "127.0.0.1:6379")]
    [InlineData("redis://localhost", "localhost:6379")]
    [InlineData("redis://localhost:6380/2", "localhost:6380,defaultDatabase=2")]
    [InlineData("rediss://user:p%40ss@cache.internal:6390", "cache.internal:6390,user=user,password=p@ss,ssl=true")]
    [InlineData("redis://secret@host", "host:6379,password=secret")]
    public void RedisConnectionString_UrlsAndPlainStrings_Normalise(string input, string expected)
    {
        Assert.True(RedisConnectionString.TryNormalize(input, out var configuration, out var error), error);
        Assert.Equal(expected, configuration);
    }

    [Theory]
    [InlineData("http://host:6379")]
    [InlineData("redis://host/notanumber")]
    [InlineData("")]
    public void RedisConnectionString_Invalid_ExplainsWhy(string input)
    {
        Assert.False(RedisConnectionString.TryNormalize(input, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Theory]
    [InlineData("host:6379,password=hunter2,ssl=true", "host:6379,password=*****,ssl=true")]
    [InlineData("redis://user:hunter2@host:6379", "redis://user:*****@host:6379")]
    public void RedisConnectionString_Redact_HidesPassword(string input, string expected)
    {
        var redacted = RedisConnectionString.Redact(input);
        Assert.Equal(expected, redacted);
        Assert.DoesNotContain("hunter2", redacted, StringComparison.Ordinal);
    }

    [Fact]
    public void LeaseOptions_Invalid_ListsEveryProblem()
    {
        var options = new LeaseOptions
        {
            DefaultMaxConnections = -1,
            DefaultByteBudget = -5,
            DefaultBudgetWindow = TimeSpan.Zero,
            DefaultTtl = TimeSpan.FromDays(3),
            FlushInterval = TimeSpan.Zero,
        };

        var problems = options.Validate().ToList();

        Assert.Equal(5, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("Leases:DefaultMaxConnections", StringComparison.Ordinal));
        Assert.Empty(new LeaseOptions().Validate());
    }

    [Fact]
    public void ClusterOptions_Defaults_AreValidAndFast()
    {
        var options = new CoordinatorClusterOptions();

        Assert.Empty(options.Validate());
        Assert.True(options.ProbeTimeout * options.NumMissedProbesLimit <= TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void MappingOptions_BadValues_AreRefused()
    {
        var options = new MappingOptions { DefaultDestination = "has space", CacheTtl = TimeSpan.FromDays(2), Normalization = (global::Orleans.Coordinator.Grains.Interfaces.IdentifierNormalization)7 };

        Assert.Equal(3, options.Validate().Count());
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("http://127.0.0.1:5080", true)]
    [InlineData("http://localhost:5080;http://[::1]:5081", true)]
    [InlineData("http://0.0.0.0:5080", false)]
    [InlineData("http://*:5080", false)]
    [InlineData("http://+:5080", false)]
    [InlineData("http://127.0.0.1:5080;http://10.1.2.3:5080", false)]
    public void ListensOnLoopbackOnly_ClassifiesUrls(string? urls, bool expected)
        => Assert.Equal(expected, GatewayHostingExtensions.ListensOnLoopbackOnly(urls));

    [Theory]
    [InlineData(null, "body")]
    [InlineData("$", "body")]
    [InlineData("$.ttlMs", "ttlMs")]
    [InlineData("$.limits.maxConnections", "limits.maxConnections")]
    public void FieldFromJsonPath_NamesTheField(string? path, string expected)
        => Assert.Equal(expected, ExceptionProblemHandler.FieldFromJsonPath(path));
}
