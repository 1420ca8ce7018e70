using Immutable.Build.Targets.Local;
using System.Globalization;

namespace Immutable.Build.LocalHost;

/// <summary>One timestamped line per action that changes this machine; stdout is host.log.</summary>
internal static class HostLog
{
    private static readonly object Gate = new();

    public static void Line(string message)
    {
        lock (Gate)
        {
            Console.Out.WriteLine($"{DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)} {message}");
            Console.Out.Flush();
        }
    }
}
