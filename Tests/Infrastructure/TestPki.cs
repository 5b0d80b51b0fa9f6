using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Orleans.Coordinator.Tests.Infrastructure;

/// <summary>
/// A throwaway certificate authority for TLS tests: an ECDSA P-256 CA valid for a day, certificates it issues
/// (server and client authentication, SAN <c>localhost</c> and <c>127.0.0.1</c>) written as PEM files
/// (<c>{name}.crt</c>, <c>{name}.key</c>) in <see cref="Directory"/>. Dispose deletes the files.
/// </summary>
public sealed class TestPki : IDisposable
{
    private readonly X509Certificate2 _ca;

    private TestPki(string directory, X509Certificate2 ca, string caPath)
        => (Directory, _ca, CaPath) = (directory, ca, caPath);

    private TestPki(string directory, string name)
    {
        Directory = directory;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        CaPath = Path.Combine(directory, $"{name}.crt");
        File.WriteAllText(CaPath, _ca.ExportCertificatePem());
    }

    /// <summary>Where the PEM files are.</summary>
    public string Directory { get; }

    /// <summary>The CA certificate's PEM file.</summary>
    public string CaPath { get; }

    /// <summary>A CA named <paramref name="name"/> writing into a fresh temporary directory (or <paramref name="directory"/>).</summary>
    public static TestPki Create(string name, string? directory = null)
        => new(directory ?? System.IO.Directory.CreateTempSubdirectory("coordinator-pki-").FullName, name);

    /// <summary>
    /// An intermediate CA signed by this one, writing into the same directory; its <see cref="CaPath"/> holds the
    /// intermediate's certificate alone.
    /// </summary>
    public TestPki CreateIntermediate(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var issued = request.Create(_ca, DateTimeOffset.UtcNow.AddMinutes(-45), DateTimeOffset.UtcNow.AddHours(20), RandomNumberGenerator.GetBytes(12));
        var path = Path.Combine(Directory, $"{name}.crt");
        File.WriteAllText(path, issued.ExportCertificatePem());
        return new TestPki(Directory, issued.CopyWithPrivateKey(key), path);
    }

    /// <summary>Issues <c>CN={name}</c> and writes <c>{name}.crt</c> and <c>{name}.key</c>; returns (certificate path, key path).</summary>
    public (string Certificate, string Key) Issue(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var issued = request.Create(_ca, DateTimeOffset.UtcNow.AddMinutes(-30), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(12));
        var certificatePath = Path.Combine(Directory, $"{name}.crt");
        var keyPath = Path.Combine(Directory, $"{name}.key");
        File.WriteAllText(certificatePath, issued.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    /// <summary>Loads an issued certificate with its key (for a test's own TLS client).</summary>
    public static X509Certificate2 Load((string Certificate, string Key) files)
    {
        using var pem = X509Certificate2.CreateFromPemFile(files.Certificate, files.Key);
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
    }

    public void Dispose()
    {
        _ca.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A process may still hold a file open; the temporary directory is cleaned by the OS.
        }
    }
}
