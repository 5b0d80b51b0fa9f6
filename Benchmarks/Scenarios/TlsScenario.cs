using System.Diagnostics;
using Orleans.Coordinator.Benchmarks.Harness;
using Orleans.Coordinator.Grains.Interfaces.Leases;

namespace Orleans.Coordinator.Benchmarks.Scenarios;

/// <summary>
/// What mutual TLS on the Orleans connections costs a grain call: the same read of a user lease grain (in memory, no
/// Redis on the path, so the connection's cost is most of it) over 10,000 users, from this process's Orleans client to
/// one silo in plaintext (the baseline) and to one silo with <c>Tls:*</c> set (certificates from deploy/tls/make-certs.sh).
/// Both clusters run side by side; the paths alternate in rounds.
/// </summary>
public static class TlsScenario
{
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(TimeSpan duration, int rounds)
    {
        const int users = 10_000;
        var directory = Directory.CreateTempSubdirectory("coordinator-bench-tls-").FullName;
        try
        {
            await MakeCertificatesAsync(directory);
            var tls = new Dictionary<string, string>
            {
                ["Tls__CertificatePath"] = Path.Combine(directory, "tls.crt"),
                ["Tls__KeyPath"] = Path.Combine(directory, "tls.key"),
                ["Tls__CaPath"] = Path.Combine(directory, "ca.crt"),
            };
            await using var plain = await BenchCluster.StartAsync(withGateway: false);
            await using var encrypted = await BenchCluster.StartAsync(withGateway: false, settings: tls);
            var names = Enumerable.Range(0, users).Select(i => $"u{i}").ToArray();
            BenchPath[] paths =
            [
                new("orleans-client plaintext (baseline)", i => plain.Grains.GetGrain<IUserLeaseGrain>(names[i % users]).GetSnapshotAsync()),
                new("orleans-client mutual TLS", i => encrypted.Grains.GetGrain<IUserLeaseGrain>(names[i % users]).GetSnapshotAsync()),
            ];
            var measured = await LoadRunner.CompareAsync("grain-read-over-tls", paths, 64, users, duration, rounds);
            Report.Print(measured);
            return measured;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task MakeCertificatesAsync(string directory)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(ChildProcess.RepoRoot(), "deploy", "tls", "make-certs.sh"));
        start.ArgumentList.Add(directory);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("bash did not start");
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"deploy/tls/make-certs.sh failed (it needs openssl): {await errors}");
        }
    }
}
