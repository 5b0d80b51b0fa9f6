using System.Net;
using System.Text.Json;
using Orleans.Coordinator.Tests.Infrastructure;

namespace Orleans.Coordinator.Tests.Gateway;

/// <summary>
/// The interactive API reference at <c>/docs/</c>, rendered by a real headless Chromium (Debian's <c>chromium</c>,
/// installed by <c>./test.sh</c>): the page lists the operations of the OpenAPI document, with no script from outside.
/// </summary>
public sealed class ApiReferenceTests
{
    private const string Chromium = "/usr/bin/chromium";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Timeout = 120_000)]
    public async Task DocsPage_RenderedInChromium_ListsTheOperations()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium package (./test.sh does: apt-get install -y chromium).");
        await using var gateway = await GatewayHost.StartAsync();
        using var anonymous = gateway.CreateClient(null);
        var redirect = await new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = gateway.BaseAddress }.GetAsync("/docs", Ct);
        var html = await anonymous.GetStringAsync("/docs/", Ct);
        using var openApi = JsonDocument.Parse(await anonymous.GetStringAsync("/openapi/v1.json", Ct));
        var summaries = openApi.RootElement.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject())
            .Select(o => o.Value.TryGetProperty("summary", out var s) ? s.GetString() : null)
            .OfType<string>().Distinct().ToList();

        var dom = await RenderAsync(new Uri(gateway.BaseAddress, "/docs/"));

        Assert.True(redirect.StatusCode is HttpStatusCode.Redirect or HttpStatusCode.MovedPermanently or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect,
            $"/docs redirects to /docs/ (got {(int)redirect.StatusCode})");
        Assert.DoesNotContain("cdn.jsdelivr.net", html, StringComparison.Ordinal); // the script comes from the gateway
        Assert.Contains("Orleans.Coordinator API", dom, StringComparison.Ordinal);
        Assert.True(summaries.Count > 50, $"the OpenAPI document has its operations ({summaries.Count})");
        // Compared on letters and digits only: the page breaks words with <wbr>, renders markdown and wraps lines.
        var text = Letters(WebUtility.HtmlDecode(System.Text.RegularExpressions.Regex.Replace(dom, "<[^>]*>", "")));
        var shown = summaries.Where(s => text.Contains(Letters(s), StringComparison.Ordinal)).ToList();
        var missing = summaries.Except(shown).ToList();
        Assert.True(missing.Count == 0, $"the rendered page lists every operation; {missing.Count} of {summaries.Count} missing, e.g. {string.Join(" | ", missing.Take(5))}");
    }

    private static string Letters(string text) => string.Concat(text.Where(char.IsLetterOrDigit));

    /// <summary>The page's DOM after its scripts ran, from headless Chromium (bounded: 60 s, the whole process tree killed after).</summary>
    private static async Task<string> RenderAsync(Uri page)
    {
        var profile = Directory.CreateTempSubdirectory("chromium-");
        try
        {
            var result = await ExternalProgram.RunAsync(Chromium,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                $"--user-data-dir={profile.FullName}", "--virtual-time-budget=20000", "--window-size=1400,20000", "--dump-dom", page.ToString(),
            ], TimeSpan.FromSeconds(60));
            Assert.True(result.Output.Length > 0, $"Chromium printed no DOM: {result.Errors}");
            return result.Output;
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }
}
