using Microsoft.Extensions.Configuration;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Orleans.Coordinator.Grains.Interfaces.Configuration;

/// <summary>
/// The <c>Tls</c> configuration section: mutual TLS on the Orleans connections (silo to silo, and client or gateway to
/// silo), with certificates read from PEM files (the <c>tls.crt</c>, <c>tls.key</c> and <c>ca.crt</c> of a Kubernetes TLS
/// secret). Setting <see cref="CertificatePath"/> turns it on; then every process of the cluster needs it, since a silo
/// refuses a connection without a certificate issued by <see cref="CaPath"/>, and a client refuses such a silo.
/// </summary>
/// <remarks>
/// A peer is trusted when its certificate chains to a root in <see cref="CaPath"/> (custom root trust: the system store
/// plays no part), through one of the intermediates in <see cref="CaPath"/> when it holds any, and is within its
/// validity period. Host names are not compared: silos connect to each
/// other by the IP address they advertise, so the cluster CA itself is the identity. Give the cluster a CA of its own.
/// </remarks>
public sealed class CoordinatorTlsOptions : IValidatableOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Tls";

    /// <summary>
    /// A PEM file with this process's certificate. Empty: no TLS. The
    /// certificate is used both as the TLS server and client certificate, so an Extended Key Usage, if present, must
    /// allow both (OIDs 1.3.6.1.5.5.7.3.1 and 1.3.6.1.5.5.7.3.2).
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>A PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1). Empty: the key follows the certificate in <see cref="CertificatePath"/>.</summary>
    public string? KeyPath { get; set; }

    /// <summary>
    /// A PEM file with the cluster CA: its root certificate, followed by any intermediate that signs the processes'
    /// certificates (.NET accepts only a self-signed root as trust anchor). Required with <see cref="CertificatePath"/>.
    /// </summary>
    public string? CaPath { get; set; }

    /// <summary>The most a TLS handshake may take before the connection is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The <c>Tls</c> section of <paramref name="configuration"/>, validated: for hosts that need the certificates while
    /// they are being built (silos and the gateway).
    /// </summary>
    /// <exception cref="CoordinatorConfigurationException">The section has problems; the message names every one.</exception>
    public static CoordinatorTlsOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var tls = configuration.GetSection(SectionName).Get<CoordinatorTlsOptions>() ?? new();
        return tls.Validate().ToList() is { Count: > 0 } problems ? throw new CoordinatorConfigurationException(string.Join(" ", problems)) : tls;
    }

    /// <summary>True when <see cref="CertificatePath"/> is set.</summary>
    public bool IsEnabled => !string.IsNullOrWhiteSpace(CertificatePath);

    /// <summary>
    /// Describes the problems with these options, empty when usable: half a setting, a bad handshake timeout, and the first
    /// problem of the files (missing or unreadable, no private key, expired, no root in the CA file, not issued by the CA).
    /// </summary>
    public IEnumerable<string> Validate()
    {
        if (!IsEnabled)
        {
            if (!string.IsNullOrWhiteSpace(KeyPath) || !string.IsNullOrWhiteSpace(CaPath))
            {
                yield return "Tls:CertificatePath is required when Tls:KeyPath or Tls:CaPath is set.";
            }

            yield break;
        }

        if (HandshakeTimeout <= TimeSpan.Zero || HandshakeTimeout > TimeSpan.FromMinutes(1))
        {
            yield return "Tls:HandshakeTimeout must be above 00:00:00 and at most 00:01:00.";
        }

        string? problem = null;
        try
        {
            using var certificate = LoadCertificate();
            var ca = LoadCa();
            using var release = new CollectionDisposer(ca);
            if (!certificate.HasPrivateKey)
            {
                problem = $"Tls:CertificatePath '{CertificatePath}' has no private key: set Tls:KeyPath.";
            }
            else if (certificate.NotAfter < DateTime.Now || certificate.NotBefore > DateTime.Now)
            {
                problem = $"Tls:CertificatePath '{CertificatePath}' is valid only from {certificate.NotBefore:u} to {certificate.NotAfter:u}.";
            }
            else if (!ca.Any(IsSelfSigned))
            {
                problem = $"Tls:CaPath '{CaPath}' holds no root (self-signed) certificate: put the CA's root first, then any intermediate.";
            }
            else if (!ChainsTo(certificate, ca))
            {
                problem = $"Tls:CertificatePath '{CertificatePath}' is not issued by the CA in Tls:CaPath '{CaPath}': the other processes would refuse it.";
            }
        }
        catch (Exception ex) when (ex is IOException or CryptographicException or ArgumentException or UnauthorizedAccessException or InvalidOperationException)
        {
            problem = ex.Message;
        }

        if (problem is not null)
        {
            yield return problem;
        }
    }

    /// <summary>Loads this process's certificate with its private key.</summary>
    /// <exception cref="InvalidOperationException">A file is missing or not PEM (the message names the setting).</exception>
    /// <exception cref="CryptographicException">The key does not match the certificate.</exception>
    public X509Certificate2 LoadCertificate()
    {
        var certificatePath = Existing(CertificatePath, "Tls:CertificatePath");
        var keyPath = string.IsNullOrWhiteSpace(KeyPath) ? certificatePath : Existing(KeyPath, "Tls:KeyPath");
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            // An ephemeral PEM key cannot serve every TLS stack: round-trip it through PKCS#12 into a persisted form.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException($"Tls:CertificatePath '{certificatePath}' and its key '{keyPath}' could not be read as a PEM certificate and private key: {ex.Message}", ex);
        }
    }

    /// <summary>Loads the CA certificate(s) peers must chain to.</summary>
    /// <exception cref="InvalidOperationException">The file is missing or holds no certificate.</exception>
    public X509Certificate2Collection LoadCa()
    {
        var path = Existing(CaPath, "Tls:CaPath");
        var ca = new X509Certificate2Collection();
        try
        {
            ca.ImportFromPemFile(path);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException($"Tls:CaPath '{path}' could not be read as PEM certificates: {ex.Message}", ex);
        }

        return ca.Count > 0 ? ca : throw new InvalidOperationException($"Tls:CaPath '{path}' holds no PEM certificate.");
    }

    /// <summary>
    /// A validator of remote certificates for Orleans' <c>TlsOptions.RemoteCertificateValidation</c>: true when the peer's
    /// certificate chains to a root in <paramref name="ca"/>, through intermediates in <paramref name="ca"/> or those the peer
    /// presented (<c>chain</c>). The platform's policy errors, which judge against the system store and the host name, are
    /// not used (see the remarks on this class).
    /// </summary>
    public static Func<X509Certificate2?, X509Chain?, bool> TrustedBy(X509Certificate2Collection ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        return (certificate, presented) => certificate is not null && ChainsTo(certificate, ca, presented);
    }

    /// <summary>
    /// Custom root trust (.NET takes only self-signed roots as anchors): the roots of <paramref name="ca"/> are the trust
    /// store, its other certificates and the peer's presented chain may serve as intermediates, and when
    /// <paramref name="ca"/> holds intermediates the chain must pass through one of them (a shared corporate root then
    /// does not admit every other team's certificates). Nothing is downloaded.
    /// </summary>
    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection ca, X509Chain? presented = null)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        var intermediates = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var authority in ca)
        {
            if (IsSelfSigned(authority))
            {
                chain.ChainPolicy.CustomTrustStore.Add(authority);
            }
            else
            {
                chain.ChainPolicy.ExtraStore.Add(authority);
                intermediates.Add(authority.Thumbprint);
            }
        }

        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(certificate)
               && (intermediates.Count == 0 || chain.ChainElements.Skip(1).Any(e => intermediates.Contains(e.Certificate.Thumbprint)));
    }

    private static bool IsSelfSigned(X509Certificate2 certificate) => certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);

    private static string Existing(string? path, string setting)
        => string.IsNullOrWhiteSpace(path) ? throw new InvalidOperationException($"{setting} is required for TLS.")
            : File.Exists(path) ? path
            : throw new InvalidOperationException($"{setting} '{path}' does not exist.");

    /// <summary>Disposes the certificates of a collection (a collection does not own them).</summary>
    private readonly struct CollectionDisposer(X509Certificate2Collection certificates) : IDisposable
    {
        public void Dispose()
        {
            foreach (var certificate in certificates)
            {
                certificate.Dispose();
            }
        }
    }
}
