using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Immutable.Build.Core.Tests.Kernel;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that reports each timer as the code under test arms it, so a test moves the
/// clock exactly when the code waits and by exactly what it waits for. Stepping on a report (rather than
/// advancing at a guess) means no step can race the code: no real time passes, and no test depends on the
/// machine's speed.
/// </summary>
internal sealed class SteppedClock : FakeTimeProvider
{
    // Only a guard against a hang in the code under test; no assertion depends on it.
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(30);
    private readonly Channel<TimeSpan> _armed = Channel.CreateUnbounded<TimeSpan>();
    private readonly ConcurrentQueue<TimeSpan> _waits = new();

    public SteppedClock()
        : base(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    /// <summary>Every wait the clock was stepped over by <see cref="DriveAsync{T}"/>, in order.</summary>
    public IReadOnlyList<TimeSpan> Waits => [.. _waits];

    /// <summary>Fake time passed since the clock was made.</summary>
    public TimeSpan Elapsed => GetUtcNow() - Start;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            _armed.Writer.TryWrite(dueTime);
        }

        return timer;
    }

    /// <summary>Waits until the code arms its next timer and returns its due time; the clock does not move.</summary>
    public async Task<TimeSpan> NextWaitAsync() => await _armed.Reader.ReadAsync().AsTask().WaitAsync(Hang);

    /// <summary>Runs <paramref name="task"/> to its end, stepping the clock over each wait the code arms.</summary>
    public async Task<T> DriveAsync<T>(Task<T> task)
    {
        while (true)
        {
            var armed = _armed.Reader.WaitToReadAsync().AsTask();
            if (await Task.WhenAny(task, armed).WaitAsync(Hang) == task)
            {
                return await task;
            }

            while (_armed.Reader.TryRead(out var due))
            {
                _waits.Enqueue(due);
                Advance(due);
            }
        }
    }
}
