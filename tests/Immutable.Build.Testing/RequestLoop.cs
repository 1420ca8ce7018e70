using System.Text.RegularExpressions;

namespace Immutable.Build.Testing;

/// <summary>Sequential GETs against the proxy, bounded in time, recording which release answered.</summary>
public sealed partial class RequestLoop : IAsyncDisposable
{
    /// <summary>The release id in the sample's greeting ("... release &lt;id&gt;, ...").</summary>
    public static string ReleaseOf(string greeting) => ReleasePattern().Match(greeting).Groups[1].Value;

    [GeneratedRegex(@"release ([0-9a-f]{12}[^,)]*)")]
    private static partial Regex ReleasePattern();

    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _answers = [];
    private int _failed;
    private Task _task = Task.CompletedTask;

    public static RequestLoop Start(Uri url)
    {
        var loop = new RequestLoop();
        loop._task = Task.Run(() => loop.RunAsync(url));
        return loop;
    }

    public async Task WaitForAnswersAsync(int count)
    {
        for (var i = 0; i < 600 && Count() < count; i++)
        {
            await Task.Delay(50);
        }
    }

    public async Task WaitForReleaseAsync(string release)
    {
        for (var i = 0; i < 600; i++)
        {
            lock (_answers)
            {
                if (_answers.Count(a => a == release) >= 20)
                {
                    return;
                }
            }

            await Task.Delay(50);
        }
    }

    public async Task<(List<string> Answers, int Failed)> StopAsync()
    {
        await _stop.CancelAsync();
        await _task;
        lock (_answers)
        {
            return ([.. _answers], _failed);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _task;
        _stop.Dispose();
    }

    private int Count()
    {
        lock (_answers)
        {
            return _answers.Count;
        }
    }

    private async Task RunAsync(Uri url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var until = DateTime.UtcNow.AddMinutes(4);
        while (!_stop.IsCancellationRequested && DateTime.UtcNow < until)
        {
            try
            {
                var text = await http.GetStringAsync(url);
                lock (_answers)
                {
                    _answers.Add(ReleaseOf(text));
                }
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref _failed);
            }
            catch (TaskCanceledException) when (!_stop.IsCancellationRequested)
            {
                Interlocked.Increment(ref _failed);
            }

            await Task.Delay(10);
        }
    }
}
