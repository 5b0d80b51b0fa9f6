using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Orleans.Coordinator.Grains.Interfaces.Configuration;

namespace Orleans.Coordinator.Hosting;

/// <summary>The <c>Auth</c> configuration section: bearer tokens for data-plane (client) and management (admin) calls.</summary>
public sealed class AuthOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Auth";

    /// <summary>Tokens that may make data-plane calls (<c>Auth__ClientTokens__0=...</c>).</summary>
    public List<string> ClientTokens { get; set; } = [];

    /// <summary>Tokens that may make management and data-plane calls (<c>Auth__AdminTokens__0=...</c>).</summary>
    public List<string> AdminTokens { get; set; } = [];

    /// <summary>Turns authentication off explicitly.</summary>
    public bool Disabled { get; set; }

    /// <summary>True when no token of either kind is configured.</summary>
    public bool HasNoTokens => ClientTokens.Count == 0 && AdminTokens.Count == 0;

    /// <inheritdoc/>
    public IEnumerable<string> Validate()
    {
        foreach (var token in ClientTokens.Concat(AdminTokens))
        {
            if (string.IsNullOrWhiteSpace(token) || token.Length < 16)
            {
                yield return "Auth tokens must be at least 16 characters (generate one with: openssl rand -hex 32).";
                yield break;
            }
        }
    }
}

/// <summary>Policy and role names.</summary>
public static class CoordinatorPolicies
{
    /// <summary>Data-plane calls: a client or an admin token.</summary>
    public const string Client = "coordinator-client";

    /// <summary>Management calls: an admin token.</summary>
    public const string Admin = "coordinator-admin";

    /// <summary>The authentication scheme.</summary>
    public const string Scheme = "CoordinatorBearer";
}

/// <summary>
/// Checks <c>Authorization: Bearer</c> tokens against the configured lists in constant time. When auth is
/// off, every caller is an admin.
/// </summary>
internal sealed class CoordinatorBearerHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    CoordinatorTokenSet tokens)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggerFactory, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!tokens.Enabled)
        {
            return Task.FromResult(Success("anonymous", isAdmin: true));
        }

        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header) || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var presented = header["Bearer ".Length..].Trim();
        return Task.FromResult(tokens.Classify(presented) switch
        {
            TokenKind.Admin => Success("admin", isAdmin: true),
            TokenKind.Client => Success("client", isAdmin: false),
            _ => AuthenticateResult.Fail("The bearer token is not valid."),
        });
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
        => ProblemResponses.WriteAsync(Context, ProblemResponses.Unauthorized());

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
        => ProblemResponses.WriteAsync(Context, ProblemResponses.Forbidden());

    private AuthenticateResult Success(string name, bool isAdmin)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, name), new(ClaimTypes.Role, CoordinatorPolicies.Client) };
        if (isAdmin)
        {
            claims.Add(new Claim(ClaimTypes.Role, CoordinatorPolicies.Admin));
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, Scheme.Name));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));
    }
}

/// <summary>What a presented token is.</summary>
internal enum TokenKind
{
    None,
    Client,
    Admin,
}

/// <summary>
/// The configured tokens, kept only as SHA-256 digests and compared in constant time, so neither the
/// comparison time nor a memory dump of this object gives a token away.
/// </summary>
internal sealed class CoordinatorTokenSet
{
    private readonly byte[][] _admin;
    private readonly byte[][] _client;

    public CoordinatorTokenSet(AuthOptions options, bool enabled)
    {
        Enabled = enabled;
        _admin = [.. options.AdminTokens.Select(Digest)];
        _client = [.. options.ClientTokens.Select(Digest)];
    }

    public bool Enabled { get; }

    public TokenKind Classify(string presented)
    {
        var digest = Digest(presented);
        var isAdmin = false;
        var isClient = false;
        foreach (var known in _admin)
        {
            isAdmin |= CryptographicOperations.FixedTimeEquals(digest, known);
        }

        foreach (var known in _client)
        {
            isClient |= CryptographicOperations.FixedTimeEquals(digest, known);
        }

        return isAdmin ? TokenKind.Admin : isClient ? TokenKind.Client : TokenKind.None;
    }

    private static byte[] Digest(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}

/// <summary>Wires bearer-token authentication and the two policies.</summary>
public static class CoordinatorAuthenticationExtensions
{
    /// <summary>
    /// Adds authentication. <paramref name="allowAnonymousWithoutTokens"/> is true only for an embedded
    /// gateway bound to loopback: there, no tokens means auth is off. Anywhere else, no tokens and no
    /// <c>Auth:Disabled=true</c> refuses to start.
    /// </summary>
    /// <returns>A sentence for the startup log describing the auth mode.</returns>
    public static string AddCoordinatorAuthentication(this WebApplicationBuilder builder, bool allowAnonymousWithoutTokens, string whereTokensAreRequired)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddValidatedOptions<AuthOptions>(AuthOptions.SectionName);
        var auth = builder.Configuration.GetSection(AuthOptions.SectionName).Get<AuthOptions>() ?? new AuthOptions();

        string mode;
        bool enabled;
        if (auth.Disabled)
        {
            (enabled, mode) = (false, "Authentication is DISABLED by Auth:Disabled=true: every caller is an admin.");
        }
        else if (auth.HasNoTokens)
        {
            if (!allowAnonymousWithoutTokens)
            {
                throw new InvalidOperationException(
                    $"No Auth:AdminTokens or Auth:ClientTokens are configured, and {whereTokensAreRequired} requires them. " +
                    "Set Auth__AdminTokens__0 (and Auth__ClientTokens__0), or set Auth__Disabled=true to run without authentication.");
            }

            (enabled, mode) = (false, "Authentication is off: embedded mode on loopback with no tokens configured.");
        }
        else
        {
            (enabled, mode) = (true, $"Authentication is on: {auth.AdminTokens.Count} admin and {auth.ClientTokens.Count} client token(s).");
        }

        builder.Services.AddSingleton(new CoordinatorTokenSet(auth, enabled));
        builder.Services.AddAuthentication(CoordinatorPolicies.Scheme)
            .AddScheme<AuthenticationSchemeOptions, CoordinatorBearerHandler>(CoordinatorPolicies.Scheme, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(CoordinatorPolicies.Client, p => p.RequireRole(CoordinatorPolicies.Client))
            .AddPolicy(CoordinatorPolicies.Admin, p => p.RequireRole(CoordinatorPolicies.Admin));
        return mode;
    }
}
