using System.Globalization;
using Orleans.Coordinator.Grains.Interfaces;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.EndToEnd;

/// <summary>
/// The client package as a user gets it: <c>dotnet pack</c> of the repository into a local folder, a small consumer
/// project restored from that folder feed (the package and the grain interfaces it depends on), built, and run against
/// a running cluster (real silos in a TestCluster on Redis membership).
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClientPackageTests(RedisClusterFixture fixture, ITestOutputHelper output)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 600_000)]
    public async Task PackedClient_FromALocalFeed_CallsARunningCluster()
    {
        var dir = Directory.CreateTempSubdirectory("client-package-");
        var feed = Directory.CreateDirectory(Path.Combine(dir.FullName, "feed")).FullName;
        var consumer = Directory.CreateDirectory(Path.Combine(dir.FullName, "consumer")).FullName;
        // A version of its own: the machine's package cache never holds an older build of it.
        var version = "1.0.0-test" + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", CultureInfo.InvariantCulture);
        try
        {
            // The two packable projects and the build settings they use, copied: packing with a version of its own must
            // not rebuild the repository's outputs that other tests are running.
            var source = Directory.CreateDirectory(Path.Combine(dir.FullName, "source")).FullName;
            foreach (var file in new[] { "Directory.Build.props", "Directory.Packages.props", ".editorconfig", "global.json" }.Where(f => File.Exists(RepoPaths.Combine(f))))
            {
                File.Copy(RepoPaths.Combine(file), Path.Combine(source, file));
            }

            foreach (var project in new[] { "Grains.Interfaces", "Client" })
            {
                CopySources(RepoPaths.Combine(project), Path.Combine(source, project));
            }

            foreach (var project in new[] { "Grains.Interfaces/Orleans.Coordinator.Grains.Interfaces.csproj", "Client/Orleans.Coordinator.Client.csproj" })
            {
                var pack = await DotnetAsync(source, "pack", project, "-c", "Release", "-o", feed, $"-p:Version={version}");
                Assert.True(pack.Code == 0, $"dotnet pack {project}: {pack.Output}");
            }

            var packages = Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
            Assert.Equal([$"Orleans.Coordinator.Client.{version}.nupkg", $"Orleans.Coordinator.Grains.Interfaces.{version}.nupkg"], packages);

            await File.WriteAllTextAsync(Path.Combine(consumer, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="local" value="{feed}" />
                  </packageSources>
                </configuration>
                """, Ct);
            await File.WriteAllTextAsync(Path.Combine(consumer, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Orleans.Coordinator.Client" Version="{version}" />
                  </ItemGroup>
                </Project>
                """, Ct);
            await File.WriteAllTextAsync(Path.Combine(consumer, "Program.cs"), """
                using Microsoft.Extensions.DependencyInjection;
                using Microsoft.Extensions.Hosting;
                using Orleans.Coordinator.Client;
                using Orleans.Coordinator.Grains.Interfaces;
                using Orleans.Coordinator.Grains.Interfaces.Leases;
                using Orleans.Coordinator.Grains.Interfaces.Tenants;

                var builder = Host.CreateApplicationBuilder(args);
                builder.AddCoordinatorClient();
                using var host = builder.Build();
                await host.StartAsync();
                var grains = host.Services.GetRequiredService<IClusterClient>();
                GrainKeys.TryUser(args[0], out var user, out _);
                var lease = await grains.GetGrain<IUserLeaseGrain>(user!).TryAcquireLeaseAsync(new LeaseAcquireRequest("packaged-client"));
                var limits = host.Services.GetRequiredService<RateLimitCoalescer>();
                var policy = new RateLimitPolicy(RateLimitAlgorithm.FixedWindow, 1, 60_000, 0, false);
                var first = await limits.CheckAsync(GrainKeys.RateLimitCounter("pkg", "p", args[0]), policy, 1);
                var second = await limits.CheckAsync(GrainKeys.RateLimitCounter("pkg", "p", args[0]), policy, 1);
                Console.WriteLine($"lease={lease.Granted} active={lease.Active} first={first.Allowed} second={second.Allowed}");
                await host.StopAsync();
                """, Ct);
            // Isolated from the repository's build settings (Directory.Build.props, central versions) by the temp folder.
            var build = await DotnetAsync(consumer, "build", "-c", "Release");
            Assert.True(build.Code == 0, $"the consumer project did not build against the packages: {build.Output}");

            var user = TestKeys.User("pkg");
            var run = await DotnetAsync(consumer, ["run", "-c", "Release", "--no-build", "--", user], new Dictionary<string, string>
            {
                ["Redis__ConnectionString"] = fixture.Redis.ConnectionString,
                ["Redis__KeyPrefix"] = fixture.KeyPrefix,
                ["Orleans__ServiceId"] = fixture.ServiceId,
                ["Orleans__ClusterId"] = fixture.ClusterId,
                ["Logging__LogLevel__Default"] = "Warning",
            });
            output.WriteLine(run.Output);

            Assert.True(run.Code == 0, $"the consumer failed: {run.Output}");
            Assert.Contains("lease=True active=1 first=True second=False", run.Output, StringComparison.Ordinal);
            GrainKeys.TryUser(user, out var key, out _);
            Assert.Equal(1, (await fixture.Grains.GetGrain<Orleans.Coordinator.Grains.Interfaces.Leases.IUserLeaseGrain>(key!).GetSnapshotAsync()).Active);

            // A missing setting stops the consumer at startup with one line naming it.
            var refused = await DotnetAsync(consumer, ["run", "-c", "Release", "--no-build", "--", user], new Dictionary<string, string> { ["Orleans__ServiceId"] = fixture.ServiceId });
            Assert.NotEqual(0, refused.Code);
            Assert.Contains("Redis:ConnectionString is required", refused.Output, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Copies a project folder without its build outputs.</summary>
    private static void CopySources(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.StartsWith("bin" + Path.DirectorySeparatorChar, StringComparison.Ordinal) || relative.StartsWith("obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                continue;
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(to, relative))!);
            File.Copy(file, Path.Combine(to, relative));
        }
    }

    private static Task<(int Code, string Output)> DotnetAsync(string workingDirectory, params string[] arguments)
        => DotnetAsync(workingDirectory, arguments, new Dictionary<string, string>());

    /// <summary>Runs <c>dotnet</c> (bounded: 5 minutes; the whole process tree is killed after).</summary>
    private static async Task<(int Code, string Output)> DotnetAsync(string workingDirectory, string[] arguments, IDictionary<string, string> environment)
    {
        var result = await ExternalProgram.RunAsync("dotnet", arguments, TimeSpan.FromMinutes(5), workingDirectory,
            new Dictionary<string, string>(environment) { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" });
        return (result.Code, result.All);
    }
}
