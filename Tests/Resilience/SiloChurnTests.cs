using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Resilience;

/// <summary>
/// Chaos: five rounds of silo churn (kill one of two, start a replacement) under lease and lock load through a
/// gateway. After every round: no acknowledged, unreleased lease is missing; no user holds more than its limit;
/// every granted fencing token is larger than the one before.
/// </summary>
[Collection(SerialTimingCollection.Name)]
public sealed class SiloChurnTests(ITestOutputHelper output)
{
    private const int Users = 12;
    private const int Limit = RedisClusterFixture.DefaultMaxConnections;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 300_000)]
    public async Task FiveRoundsOfChurnUnderLoad_EveryInvariantHoldsAfterEachRound()
    {
        await using var redis = await RedisServer.StartAsync();
        var prefix = TestKeys.Prefix("ch");
        var cluster = await RedisClusterFixture.StartClusterAsync(redis, prefix, silos: 2);
        try
        {
            // The grains' invariants are what this test is about: a generous data-plane timeout; leases in the default
            // Fallback mode (fallback leases are listed by the grains too, so the checks below count them).
            await using var gateway = await GatewayHost.StartAsync(RedisClusterFixture.StandaloneGatewaySettings(redis, prefix, cluster, new Dictionary<string, string?>
            {
                ["Resilience:DataPlaneTimeout"] = "00:00:05",
            }));
            using var http = gateway.CreateClient();
            var users = Enumerable.Range(0, Users).Select(_ => TestKeys.User("churn")).ToList();
            var held = new ConcurrentDictionary<string, ConcurrentDictionary<string, byte>>(users.ToDictionary(u => u, _ => new ConcurrentDictionary<string, byte>()));

            // A release whose answer was lost (503 or a timeout while a silo died) may still have been applied: its lease
            // is neither held nor known to be gone, so the lost-lease check leaves it out (it was counted as lost before).
            var uncertain = new ConcurrentDictionary<string, string>(); // lease id -> user
            var releaseAnswers = new ConcurrentDictionary<int, int>();
            var tokens = new ConcurrentQueue<long>();
            var lockName = TestKeys.User("churn-lock");
            var lockAnswers = new System.Collections.Concurrent.ConcurrentDictionary<int, int>(); // diagnostics: acquire answers by status
            var (acknowledged, failures) = (0, 0);
            using var stop = new CancellationTokenSource();
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            gate.SetResult();
            var inFlight = 0;

            async Task WorkAsync(int worker)
            {
                var random = new Random(worker);
                while (!stop.IsCancellationRequested)
                {
                    // Count this call as in flight before looking at the gate, so that the checks, which close the gate
                    // and then wait for no call in flight, never overlap a call that slipped past the gate.
                    Interlocked.Increment(ref inFlight);
                    var open = Volatile.Read(ref gate);
                    if (!open.Task.IsCompleted)
                    {
                        Interlocked.Decrement(ref inFlight);
                        await open.Task;
                        continue;
                    }

                    var user = users[random.Next(Users)];
                    try
                    {
                        if (worker == 0)
                        {
                            var grant = await http.PostJsonAsync($"/v1/locks/{lockName}/acquire", new { owner = "w", ttlMs = 2000 });
                            lockAnswers.AddOrUpdate((int)grant.StatusCode, 1, (_, n) => n + 1);
                            if (grant.StatusCode == HttpStatusCode.OK)
                            {
                                var token = (await grant.JsonAsync()).GetProperty("fencingToken").GetInt64();
                                tokens.Enqueue(token);
                                await http.PostJsonAsync($"/v1/locks/{lockName}/release", new { owner = "w", fencingToken = token });
                            }

                            continue;
                        }

                        // A release whose answer was lost is retried, as a client does (releasing is idempotent): its slot frees.
                        if (uncertain.Keys.FirstOrDefault() is { } retry && uncertain.TryRemove(retry, out var owner))
                        {
                            try
                            {
                                if ((await http.DeleteAsync($"/v1/users/{owner}/connections/{retry}", stop.Token)).StatusCode != HttpStatusCode.NoContent)
                                {
                                    uncertain[retry] = owner;
                                }
                            }
                            catch
                            {
                                uncertain[retry] = owner;
                                throw;
                            }

                            continue;
                        }

                        var mine = held[user];
                        if (random.Next(3) == 0 && mine.Keys.FirstOrDefault() is { } leaseId && mine.TryRemove(leaseId, out _))
                        {
                            try
                            {
                                var released = await http.DeleteAsync($"/v1/users/{user}/connections/{leaseId}", stop.Token);
                                if (released.StatusCode != HttpStatusCode.NoContent)
                                {
                                    uncertain[leaseId] = user;
                                    releaseAnswers.AddOrUpdate((int)released.StatusCode, 1, (_, n) => n + 1);
                                }
                            }
                            catch
                            {
                                uncertain[leaseId] = user;
                                throw;
                            }

                            continue;
                        }

                        var response = await http.PostJsonAsync($"/v1/users/{user}/connections", new { instanceId = "p", ttlMs = 600_000 });
                        if (response.StatusCode == HttpStatusCode.Created)
                        {
                            mine[(await response.JsonAsync()).GetProperty("leaseId").GetString()!] = 0;
                            Interlocked.Increment(ref acknowledged);
                        }
                        else if (response.StatusCode != HttpStatusCode.TooManyRequests)
                        {
                            Interlocked.Increment(ref failures);
                        }
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                    {
                        Interlocked.Increment(ref failures);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref inFlight);
                    }
                }
            }

            var load = Enumerable.Range(0, 6).Select(WorkAsync).ToList();
            var report = new List<string>();
            for (var round = 1; round <= 5; round++)
            {
                // Act: kill one silo, start its replacement, under load (the load has made progress since the last round).
                var (leasesBefore, grantsBefore) = (Volatile.Read(ref acknowledged), tokens.Count);
                try
                {
                    await Wait.UntilAsync(() => Volatile.Read(ref acknowledged) >= leasesBefore + 10 && tokens.Count >= grantsBefore + 2,
                        TimeSpan.FromSeconds(60), $"round {round}: the load to acknowledge 10 more leases and 2 more lock grants before the kill");
                }
                catch (TimeoutException ex)
                {
                    // Say which side stalled, and what the calls were answered meanwhile.
                    throw new TimeoutException(
                        $"{ex.Message} Leases {leasesBefore} -> {Volatile.Read(ref acknowledged)}, lock grants {grantsBefore} -> {tokens.Count} (acquire answers {string.Join(", ", lockAnswers.OrderBy(a => a.Key).Select(a => $"{a.Key}: {a.Value}"))}), " +
                        $"failed calls {Volatile.Read(ref failures)}, releases in doubt {uncertain.Count}; rounds so far: {string.Join(" | ", report)}", ex);
                }
                var victim = cluster.Silos[round % cluster.Silos.Count];
                await cluster.KillSiloAsync(victim, Ct);
                var killed = System.Diagnostics.Stopwatch.StartNew();
                await cluster.StartAdditionalSiloAsync();
                var started = System.Diagnostics.Stopwatch.StartNew();
                var startedAfterKillMs = killed.ElapsedMilliseconds;

                // Assert: every user answers, and the invariants hold (checked with the load paused, so no
                // release is half done while the books are compared).
                Volatile.Write(ref gate, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                await Wait.UntilAsync(() => Volatile.Read(ref inFlight) == 0, TimeSpan.FromSeconds(30), $"round {round}: the load's calls in flight to finish");
                var slowestUser = 0L;
                foreach (var user in users)
                {
                    var userWatch = System.Diagnostics.Stopwatch.StartNew();
                    List<string> listed = [];
                    await Wait.UntilAsync(async () =>
                    {
                        var listing = await http.GetAsync($"/v1/users/{user}/connections", Ct);
                        if (!listing.IsSuccessStatusCode)
                        {
                            return false;
                        }

                        listed = [.. (await listing.JsonAsync()).GetProperty("leases").EnumerateArray().Select(l => l.GetProperty("leaseId").GetString()!)];
                        return true;
                    }, TimeSpan.FromSeconds(60), $"round {round}: {user}'s leases to be listed");
                    var missing = held[user].Keys.Except(listed).Except(uncertain.Keys).ToList();
                    Assert.True(missing.Count == 0, $"round {round}: acknowledged leases of {user} lost: {string.Join(", ", missing)}");
                    Assert.True(listed.Count <= Limit, $"round {round}: {user} holds {listed.Count} leases, limit {Limit}");
                    slowestUser = Math.Max(slowestUser, userWatch.ElapsedMilliseconds);
                }

                var seen = tokens.ToArray();
                Assert.True(seen.Zip(seen.Skip(1)).All(p => p.Second > p.First), $"round {round}: fencing tokens not strictly increasing: {string.Join(",", seen)}");
                report.Add(string.Create(CultureInfo.InvariantCulture, $"round {round}: replacement started {startedAfterKillMs} ms after the kill; all users listed {started.ElapsedMilliseconds} ms after that (slowest user {slowestUser} ms)"));
                Volatile.Read(ref gate).SetResult();
            }

            await stop.CancelAsync();
            await Task.WhenAll(load);
            Assert.True(acknowledged > 50, $"only {acknowledged} leases were acknowledged under churn: the load did not run");
            Assert.True(tokens.Count > 5, $"only {tokens.Count} lock grants under churn");
            output.WriteLine(string.Join(Environment.NewLine, report));
            output.WriteLine($"{acknowledged} leases acknowledged, {tokens.Count} lock grants (tokens strictly increasing), {failures} calls failed (503/timeouts during churn), " +
                $"{releaseAnswers.Values.Sum()} releases answered other than 204 ({string.Join(", ", releaseAnswers.Select(a => $"{a.Key} x{a.Value}"))}), retried until released; 0 acknowledged leases lost.");
        }
        finally
        {
            await cluster.StopAllSilosAsync(CancellationToken.None);
            await cluster.DisposeAsync();
        }
    }
}
