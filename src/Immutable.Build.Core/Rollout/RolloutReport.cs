using System.Globalization;
using System.Text;

namespace Immutable.Build.Rollout;

/// <summary>The Markdown summary of a rollout: written next to the journal and appended to $GITHUB_STEP_SUMMARY.</summary>
public static class RolloutReport
{
    /// <summary>Renders <paramref name="result"/>.</summary>
    public static string Render(RolloutResult result, string targetName)
    {
        ArgumentNullException.ThrowIfNull(result);
        var c = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        var icon = result.Outcome switch { RolloutOutcomes.Succeeded => "succeeded", RolloutOutcomes.RolledBack => "rolled back", _ => "FAILED" };
        md.AppendLine(c, $"### Rollout {Cell(result.RolloutId)}: {Cell(result.Release.ReleaseId)} {icon}");
        md.AppendLine();
        md.AppendLine("| | |");
        md.AppendLine("| --- | --- |");
        md.AppendLine(c, $"| app / environment | {Cell(result.Scope.App)} / {Cell(result.Scope.Environment)} |");
        md.AppendLine(c, $"| target | {Cell(targetName)} |");
        md.AppendLine(c, $"| {result.Trigger} | `{Cell(result.Release.ImageDigest)}` ({Cell(result.Release.ReleaseId)}) |");
        md.AppendLine(c, $"| previous | {(result.PreviousRelease is null ? "none" : $"{Cell(result.PreviousRelease.ReleaseId)}")} |");
        md.AppendLine(c, $"| strategy | {result.Strategy.ToString().ToLowerInvariant()} |");
        md.AppendLine(c, $"| started | {result.StartedAt:u} |");
        md.AppendLine(c, $"| duration | {result.Duration.TotalSeconds:0.00}s |");
        md.AppendLine(c, $"| outcome | **{result.Outcome}**{(result.Reason is null ? "" : $": {Cell(result.Reason)}")} |");
        if (result.Repairs.Count > 0)
        {
            md.AppendLine(c, $"| converged first | {Cell(string.Join("; ", result.Repairs))} |");
        }

        md.AppendLine();
        md.AppendLine("| # | step | what | started | duration | result |");
        md.AppendLine("| ---: | --- | --- | --- | ---: | --- |");
        foreach (var s in result.Steps)
        {
            md.AppendLine(c, $"| {s.Index} | {s.Name} | {Cell(s.Description)} | {s.StartedAt:HH:mm:ss.fff} | {s.Duration.TotalSeconds:0.000}s | {(s.Succeeded ? "ok" : "failed: " + Cell(s.Detail ?? ""))} |");
        }

        if (result.Gates.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("| gate | group | verdict | duration | detail |");
            md.AppendLine("| --- | --- | --- | ---: | --- |");
            foreach (var g in result.Gates)
            {
                md.AppendLine(c, $"| {Cell(g.Gate)} | {Cell(g.Group ?? "")} | {g.Verdict.ToString().ToLowerInvariant()} | {g.Duration.TotalSeconds:0.000}s | {Cell(g.Detail)} |");
            }
        }

        return md.ToString();
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
