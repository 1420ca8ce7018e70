using System.Globalization;
using System.Diagnostics;
using HelloImmutable;
using HelloImmutable.Telemetry;
using Humanizer;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, SampleJsonContext.Default));
var app = builder.Build();

var release = ReleaseInfo.FromEnvironment();
var metrics = new RequestMetrics();

// Fault switches, so a release can be made unhealthy on purpose (rollback and metric-gate tests, demos).
var failHealth = string.Equals(Environment.GetEnvironmentVariable("HELLO_FAIL_HEALTH"), "true", StringComparison.OrdinalIgnoreCase);
var errorRate = double.TryParse(Environment.GetEnvironmentVariable("HELLO_ERROR_RATE"), NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) ? rate : 0;

app.Use(async (context, next) =>
{
    await next(context);
    if (context.Request.Path != "/metrics")
    {
        metrics.Record(context.Request.Path.Value ?? "/", context.Response.StatusCode);
    }
});

app.MapGet("/", () => errorRate > 0 && Random.Shared.NextDouble() < errorRate
    ? Results.Text("injected failure\n", statusCode: 500)
    : Results.Text($"{Greeting.Text} (release {release.ReleaseId}, up {(DateTime.Now - Process.GetCurrentProcess().StartTime).Humanize()})\n"));
app.MapGet("/healthz", () => failHealth ? Results.Text("unhealthy\n", statusCode: 503) : Results.Text("ok\n"));
app.MapGet("/version", () => Results.Json(release, SampleJsonContext.Default.ReleaseInfo));
app.MapGet("/metrics", () => Results.Text(metrics.Render(release), "text/plain; version=0.0.4; charset=utf-8"));

app.Run();
