using Immutable.Build.Cli;

return await ImmutableCli.RunAsync(args);
