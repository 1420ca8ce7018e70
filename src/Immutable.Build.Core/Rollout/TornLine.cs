namespace Immutable.Build.Rollout;

/// <summary>
/// A damaged line a command found last in a log and dropped, named by the record the command wrote after it: once
/// later lines follow, this is what tells a line torn by a crash (dropped, as it was then) from one damaged since
/// (an error). Lines count from 1, as editors show them.
/// </summary>
/// <param name="Line">The dropped line's number.</param>
/// <param name="Sum">The checksum of the dropped line's text as it was found.</param>
public sealed record TornLine(int Line, string Sum);
