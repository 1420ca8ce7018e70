using System.Diagnostics;

namespace Immutable.Build.Core.Tests.Kernel;

/// <summary>
/// A real file system of a few megabytes (tmpfs, mounted for the test and unmounted after) that a test fills to
/// leave a chosen number of bytes: the kernel itself refuses the write with ENOSPC, as a full disk would.
/// Mounting needs root; under CI=true a mount that fails fails the test, elsewhere a non-root run skips.
/// </summary>
internal sealed class SmallDisk : IDisposable
{
    private readonly string _filler;

    private SmallDisk(string root)
    {
        Root = root;
        _filler = Path.Combine(root, ".filler");
    }

    public string Root { get; }

    /// <summary>Bytes the file system still gives an unprivileged writer.</summary>
    public long Free => new DriveInfo(Root).AvailableFreeSpace;

    public static SmallDisk Mount(string sizeOption = "2m")
    {
        var root = TestEnvironment.NewWorkDir("small-disk");
        if (!OperatingSystem.IsLinux() || (Environment.UserName != "root" && !TestEnvironment.IsCI))
        {
            Assert.Skip("mounting a tmpfs needs Linux and root; run as root (CI does) to test a full disk");
        }

        var (code, output) = Run("mount", "-t", "tmpfs", "-o", $"size={sizeOption},mode=0700", "tmpfs", root);
        Assert.True(code == 0, $"mount -t tmpfs failed ({code}): {output}. The full-disk tests need root (CI runs as root).");
        return new SmallDisk(root);
    }

    /// <summary>Fills the disk until at most <paramref name="leave"/> bytes are free (whole pages: tmpfs counts 4 KiB).</summary>
    public void FillLeaving(long leave)
    {
        using var filler = new FileStream(_filler, FileMode.Append, FileAccess.Write, FileShare.None, 1);
        var chunk = new byte[4096];
        Random.Shared.NextBytes(chunk);
        while (Free > leave)
        {
            try
            {
                filler.Write(chunk, 0, (int)Math.Min(chunk.Length, Free - leave));
            }
            catch (IOException e) when (DiskFull.Is(e))
            {
                break;
            }
        }

        filler.Flush(flushToDisk: true);
        Assert.True(Free <= leave + 4096, $"the disk still has {Free} bytes free");
    }

    /// <summary>Gives back the space the filler took.</summary>
    public void Empty() => File.Delete(_filler);

    public void Dispose()
    {
        var (code, output) = Run("umount", "-l", Root);
        Assert.True(code == 0, $"umount {Root} failed: {output}");
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
