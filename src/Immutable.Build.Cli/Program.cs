using System.CommandLine;
using System.Reflection;

var root = new RootCommand("immutable: inspect and roll out Immutable.Build releases.");
var version = new Command("version", "Print the version of this tool.");
version.SetAction(_ =>
{
    var informational = typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
    Console.WriteLine(informational ?? "unknown");
    return 0;
});
root.Subcommands.Add(version);
return await root.Parse(args).InvokeAsync();
