using System.Collections.Concurrent;
using System.Text;

namespace Immutable.Build.Registry;

/// <summary>
/// Every secret a client has handled (passwords, identity tokens, bearer tokens, Basic header
/// values). Messages and log lines that quote a server go through <see cref="Redact"/>, because a
/// misbehaving registry or token service may echo what it was sent.
/// </summary>
internal sealed class SecretRedactor
{
    // Shorter strings would shred ordinary words in messages; no real secret is that short.
    private const int MinimumLength = 4;
    private const string Mask = "***";
    private readonly ConcurrentDictionary<string, byte> _secrets = new(StringComparer.Ordinal);

    public void Add(string? secret)
    {
        if (secret is null || secret.Length < MinimumLength)
        {
            return;
        }

        _secrets.TryAdd(secret, 0);
        _secrets.TryAdd(Uri.EscapeDataString(secret), 0);
    }

    public void AddCredential(RegistryCredential credential)
    {
        foreach (var secret in credential.Secrets())
        {
            Add(secret);
        }

        Add(BasicParameter(credential));
    }

    public string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        // Longest first, so a secret that contains another is masked whole.
        foreach (var secret in _secrets.Keys.OrderByDescending(s => s.Length))
        {
            text = text.Replace(secret, Mask, StringComparison.Ordinal);
        }

        return text;
    }

    public static string BasicParameter(RegistryCredential credential) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.BasicSecret}"));
}
