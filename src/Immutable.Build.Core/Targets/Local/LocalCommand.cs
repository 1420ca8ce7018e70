using Immutable.Build.Images;

namespace Immutable.Build.Targets.Local;

/// <summary>
/// Turns an image's Entrypoint, Cmd and WorkingDir into a command on this machine: paths inside the image
/// are mapped onto its unpacked root, and the .NET host comes from this machine, which is what lets an
/// app-only image (no base, just /app) run locally.
/// </summary>
internal static class LocalCommand
{
    public static (string FileName, IReadOnlyList<string> Arguments, string WorkingDirectory) Resolve(ImageConfig config, string rootfs, string dotnet, string image)
    {
        var argv = (config.Config?.Entrypoint ?? []).Concat(config.Config?.Cmd ?? []).ToList();
        if (argv.Count == 0)
        {
            throw LocalErrors.NoCommand(image, "it has neither Entrypoint nor Cmd");
        }

        var workingDir = string.IsNullOrEmpty(config.Config?.WorkingDir) ? "/" : config.Config!.WorkingDir!;
        var workingDirectory = InImage(rootfs, workingDir);
        if (!Directory.Exists(workingDirectory))
        {
            workingDirectory = rootfs;
        }

        var arguments = argv.Skip(1).Select(a => MapArgument(rootfs, a)).ToList();
        var program = argv[0];
        if (Path.GetFileName(program) is "dotnet" or "dotnet.exe")
        {
            // The machine's runtime, even when the image brings its own: that one is built for the image's libraries.
            return (dotnet, arguments, workingDirectory);
        }

        var inImage = program.StartsWith('/') ? InImage(rootfs, program)
            : program.Contains('/', StringComparison.Ordinal) ? Path.GetFullPath(Path.Combine(workingDirectory, program))
            : File.Exists(Path.Combine(workingDirectory, program)) ? Path.Combine(workingDirectory, program)
            : null;
        if (inImage is null || !File.Exists(inImage) || !inImage.StartsWith(rootfs, StringComparison.Ordinal))
        {
            throw LocalErrors.NoCommand(image, $"its program '{program}' is not dotnet and not a file inside the image");
        }

        // An apphost is built for one runtime location and RID; its .dll runs on this machine's dotnet.
        var dll = inImage + ".dll";
        if (File.Exists(dll) && File.Exists(inImage + ".runtimeconfig.json"))
        {
            return (dotnet, [dll, .. arguments], workingDirectory);
        }

        return (inImage, arguments, workingDirectory);
    }

    /// <summary>An absolute path that names something inside the image becomes its unpacked path; anything else is passed as is.</summary>
    private static string MapArgument(string rootfs, string argument)
    {
        if (!argument.StartsWith('/') || argument.Contains("..", StringComparison.Ordinal))
        {
            return argument;
        }

        var mapped = InImage(rootfs, argument);
        return File.Exists(mapped) || Directory.Exists(mapped) ? mapped : argument;
    }

    private static string InImage(string rootfs, string path) =>
        Path.GetFullPath(Path.Combine(rootfs, path.TrimStart('/')));
}
