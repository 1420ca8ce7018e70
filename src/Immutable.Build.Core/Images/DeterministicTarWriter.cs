using System.Buffers;
using System.Globalization;
using System.Text;

namespace Immutable.Build.Images;

/// <summary>What a <see cref="DeterministicTarWriter"/> wrote.</summary>
/// <param name="EntryCount">All entries, including the parent directories it added.</param>
/// <param name="SourceCount">The entries that were added (not the implied parent directories).</param>
/// <param name="Length">Bytes written, end-of-archive blocks included.</param>
public sealed record TarSummary(int EntryCount, int SourceCount, long Length);

/// <summary>
/// Writes a tar archive whose bytes depend only on the entries' paths, kinds, modes and content plus
/// one timestamp: entries are ordered by the UTF-8 bytes of their names, every parent directory is
/// emitted once, owners are 0/0 without names, and every entry carries the same mtime.
/// </summary>
/// <remarks>
/// Headers are plain ustar. A name that does not fit ustar's name/prefix split, a link target longer
/// than 100 bytes or a file of 8 GiB or more gets a PAX 'x' header with just path, linkpath or size.
/// System.Formats.Tar is not used because its PAX headers carry atime/ctime and have changed across
/// runtime versions, which would change layer digests with the machine that builds them.
/// </remarks>
public sealed class DeterministicTarWriter
{
    private const int Block = 512;
    private const long MaxOctal11 = 0x1_FFFF_FFFF; // 8^11 - 1: the largest size or mtime ustar holds
    private readonly Dictionary<string, TarEntry> _entries = new(StringComparer.Ordinal);
    private readonly long _mtime;

    /// <summary>Creates a writer whose entries all carry <paramref name="timestamp"/> (whole seconds) as mtime.</summary>
    public DeterministicTarWriter(DateTimeOffset timestamp)
    {
        var seconds = timestamp.ToUnixTimeSeconds();
        if (seconds is < 0 or > MaxOctal11)
        {
            throw ImageErrors.TimestampOutOfRange(timestamp);
        }

        _mtime = seconds;
        Timestamp = DateTimeOffset.FromUnixTimeSeconds(seconds);
    }

    /// <summary>The mtime of every entry.</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary>The entries added so far, keyed by path.</summary>
    public IReadOnlyCollection<TarEntry> Entries => _entries.Values;

    /// <summary>Adds an entry; a second entry for the same path is an error unless both are directories.</summary>
    public DeterministicTarWriter Add(TarEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (_entries.TryGetValue(entry.Path, out var existing))
        {
            if (existing.Kind == TarEntryKind.Directory && entry.Kind == TarEntryKind.Directory)
            {
                return this;
            }

            throw ImageErrors.DuplicatePath(entry.Path, Describe(existing) + " and " + Describe(entry));
        }

        _entries.Add(entry.Path, entry);
        return this;
    }

    /// <summary>Adds several entries.</summary>
    public DeterministicTarWriter AddRange(IEnumerable<TarEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var e in entries)
        {
            Add(e);
        }

        return this;
    }

    /// <summary>Writes the archive to <paramref name="output"/>, which is neither flushed nor closed.</summary>
    public async Task<TarSummary> WriteToAsync(Stream output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var ordered = Plan();
        var header = new byte[Block];
        // Large reads (a 1 GiB file is 4096 of them), each a whole block of the layer's pipe.
        var buffer = ArrayPool<byte>.Shared.Rent(256 * 1024);
        long length = 0;
        try
        {
            foreach (var (name, entry) in ordered)
            {
                cancellationToken.ThrowIfCancellationRequested();
                length += await WriteHeadersAsync(output, header, name, entry, cancellationToken);
                if (entry.Kind == TarEntryKind.File && entry.Size > 0)
                {
                    length += await CopyContentAsync(output, entry, buffer, cancellationToken);
                }
            }

            Array.Clear(header);
            await output.WriteAsync(header, cancellationToken);
            await output.WriteAsync(header, cancellationToken);
            length += 2 * Block;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return new TarSummary(ordered.Count, _entries.Count, length);
    }

    /// <summary>Entries plus implied parents, each with the name it is written under, in archive order.</summary>
    private List<(byte[] Name, TarEntry Entry)> Plan()
    {
        var all = new Dictionary<string, TarEntry>(_entries, StringComparer.Ordinal);
        foreach (var entry in _entries.Values)
        {
            for (var slash = entry.Path.LastIndexOf('/'); slash > 0; slash = entry.Path.LastIndexOf('/', slash - 1))
            {
                var parent = entry.Path[..slash];
                if (all.TryGetValue(parent, out var existing))
                {
                    if (existing.Kind != TarEntryKind.Directory)
                    {
                        throw ImageErrors.DuplicatePath(parent, $"{Describe(existing)}, but also the parent directory of '{entry.Path}'");
                    }

                    break;
                }

                all.Add(parent, TarEntry.Directory(parent));
            }
        }

        var ordered = all.Values
            .Select(e => (Name: Encoding.UTF8.GetBytes(e.Kind == TarEntryKind.Directory ? e.Path + "/" : e.Path), Entry: e))
            .ToList();
        ordered.Sort((a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        return ordered;
    }

    private async Task<long> WriteHeadersAsync(Stream output, byte[] header, byte[] name, TarEntry entry, CancellationToken ct)
    {
        long written = 0;
        var link = entry.LinkTarget is null ? [] : Encoding.UTF8.GetBytes(entry.LinkTarget);
        var fits = TrySplitName(name, out var prefixLength);
        var pax = new List<(string Key, byte[] Value)>();
        if (!fits)
        {
            pax.Add(("path", name));
        }

        if (link.Length > 100)
        {
            pax.Add(("linkpath", link));
        }

        if (entry.Size > MaxOctal11)
        {
            pax.Add(("size", Encoding.ASCII.GetBytes(entry.Size.ToString(CultureInfo.InvariantCulture))));
        }

        if (pax.Count > 0)
        {
            var records = PaxRecords(pax);
            var paxName = Truncate(Encoding.UTF8.GetBytes("PaxHeaders.0/" + LastSegment(entry.Path)), 100);
            FillHeader(header, paxName, [], TarEntry.RegularMode, records.Length, (byte)'x', []);
            await output.WriteAsync(header, ct);
            await output.WriteAsync(records, ct);
            var padding = Padding(records.Length);
            if (padding > 0)
            {
                Array.Clear(header);
                await output.WriteAsync(header.AsMemory(0, padding), ct);
            }

            written += Block + records.Length + padding;
        }

        byte[] ustarName, prefix;
        if (fits)
        {
            prefix = name[..prefixLength];
            ustarName = prefixLength == 0 ? name : name[(prefixLength + 1)..];
        }
        else
        {
            prefix = [];
            ustarName = Truncate(name, 100);
        }

        var type = entry.Kind switch
        {
            TarEntryKind.File => (byte)'0',
            TarEntryKind.Directory => (byte)'5',
            _ => (byte)'2',
        };
        FillHeader(header, ustarName, prefix, entry.Mode, entry.Size > MaxOctal11 ? 0 : entry.Size, type, Truncate(link, 100));
        await output.WriteAsync(header, ct);
        return written + Block;
    }

    private static async Task<long> CopyContentAsync(Stream output, TarEntry entry, byte[] buffer, CancellationToken ct)
    {
        var source = entry.SourcePath ?? entry.Path;
        long copied = 0;
        await using (var input = await entry.Open!(ct))
        {
            while (copied < entry.Size)
            {
                var want = (int)Math.Min(buffer.Length, entry.Size - copied);
                var read = await input.ReadAsync(buffer.AsMemory(0, want), ct);
                if (read == 0)
                {
                    throw ImageErrors.SourceChanged(source, entry.Size, copied);
                }

                await output.WriteAsync(buffer.AsMemory(0, read), ct);
                copied += read;
            }

            // A file that grew would otherwise be silently cut; the header already promised the old size.
            if (await input.ReadAsync(buffer.AsMemory(0, 1), ct) != 0)
            {
                throw ImageErrors.SourceChanged(source, entry.Size, entry.Size + 1);
            }
        }

        var padding = Padding(copied);
        if (padding > 0)
        {
            Array.Clear(buffer, 0, padding);
            await output.WriteAsync(buffer.AsMemory(0, padding), ct);
        }

        return copied + padding;
    }

    private void FillHeader(byte[] header, byte[] name, byte[] prefix, int mode, long size, byte type, byte[] link)
    {
        Array.Clear(header);
        name.CopyTo(header, 0);
        Octal(header.AsSpan(100, 8), mode);
        Octal(header.AsSpan(108, 8), 0); // uid
        Octal(header.AsSpan(116, 8), 0); // gid
        Octal(header.AsSpan(124, 12), size);
        Octal(header.AsSpan(136, 12), _mtime);
        header[156] = type;
        link.CopyTo(header, 157);
        "ustar\0"u8.CopyTo(header.AsSpan(257));
        "00"u8.CopyTo(header.AsSpan(263));
        // uname and gname stay empty so no build machine's user names leak into images.
        Octal(header.AsSpan(329, 8), 0); // devmajor
        Octal(header.AsSpan(337, 8), 0); // devminor
        prefix.CopyTo(header, 345);

        header.AsSpan(148, 8).Fill((byte)' ');
        var sum = 0;
        foreach (var b in header)
        {
            sum += b;
        }

        Octal(header.AsSpan(148, 7), sum);
        header[155] = (byte)' ';
    }

    /// <summary>Zero-padded octal digits followed by a NUL, filling <paramref name="field"/>.</summary>
    private static void Octal(Span<byte> field, long value)
    {
        field[^1] = 0;
        for (var i = field.Length - 2; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }
    }

    /// <summary>
    /// ustar splits a long name at a '/' into prefix (up to 155 bytes) and name (1 to 100 bytes).
    /// The longest prefix that works is used; <paramref name="prefixLength"/> is 0 when the name fits alone.
    /// </summary>
    private static bool TrySplitName(byte[] name, out int prefixLength)
    {
        prefixLength = 0;
        if (name.Length <= 100)
        {
            return true;
        }

        // The final '/' of a directory name cannot be the split point: the name part would be empty.
        for (var i = Math.Min(155, name.Length - 2); i > 0; i--)
        {
            if (name[i] == (byte)'/' && name.Length - i - 1 <= 100)
            {
                prefixLength = i;
                return true;
            }
        }

        return false;
    }

    private static byte[] PaxRecords(List<(string Key, byte[] Value)> records)
    {
        using var buffer = new MemoryStream();
        foreach (var (key, value) in records)
        {
            // "%d %s=%s\n" where %d counts the whole record, its own digits included.
            var rest = 1 + Encoding.ASCII.GetByteCount(key) + 1 + value.Length + 1;
            var length = rest + 1;
            while (length != rest + length.ToString(CultureInfo.InvariantCulture).Length)
            {
                length = rest + length.ToString(CultureInfo.InvariantCulture).Length;
            }

            buffer.Write(Encoding.ASCII.GetBytes($"{length.ToString(CultureInfo.InvariantCulture)} {key}="));
            buffer.Write(value);
            buffer.WriteByte((byte)'\n');
        }

        return buffer.ToArray();
    }

    /// <summary>Cuts at most <paramref name="max"/> bytes without splitting a UTF-8 sequence.</summary>
    private static byte[] Truncate(byte[] value, int max)
    {
        if (value.Length <= max)
        {
            return value;
        }

        var end = max;
        while (end > 0 && (value[end] & 0xC0) == 0x80)
        {
            end--;
        }

        return value[..end];
    }

    private static string LastSegment(string path) => path[(path.LastIndexOf('/') + 1)..];

    private static int Padding(long length) => (int)((Block - (length % Block)) % Block);

    private static string Describe(TarEntry e) => e.Kind switch
    {
        TarEntryKind.Directory => "a directory",
        TarEntryKind.Symlink => $"a symlink to '{e.LinkTarget}'",
        _ => e.SourcePath is null ? "a file" : $"the file '{e.SourcePath}'",
    };
}
