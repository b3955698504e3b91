using System.Globalization;
using System.Text;

namespace ConnectedRegistry.IntegrationTests.Infrastructure;

/// <summary>
/// Tar files written block by block, for what no tar writer produces: a pax extended header or a GNU long name
/// that declares any size (up to 11 octal digits), an entry whose data is left as a hole (a sparse file: a 64 MiB
/// entry costs no disk and no memory to write), and entries copied from a real bundle.
/// </summary>
public static class RawTar
{
    /// <summary>One entry: its header fields and its data (null: <paramref name="Size"/> bytes of zeros, left as a hole).</summary>
    public sealed record Entry(string Name, char Type, long Size, byte[]? Data = null)
    {
        public static Entry File(string name, byte[] data) => new(name, '0', data.Length, data);
    }

    /// <summary>Writes <paramref name="entries"/> and the two zero blocks that end a tar.</summary>
    public static string Write(string path, IEnumerable<Entry> entries)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        foreach (var entry in entries)
        {
            file.Write(Header(entry.Name, entry.Type, entry.Size));
            if (entry.Data is { } data)
            {
                file.Write(data);
            }
            else
            {
                file.Seek(entry.Size, SeekOrigin.Current);
            }

            var padding = (int)((512 - (entry.Size % 512)) % 512);
            file.Seek(padding, SeekOrigin.Current);
        }

        file.Seek(1024, SeekOrigin.Current);
        file.SetLength(file.Position);
        return path;
    }

    /// <summary>The entries of a real tar (regular files only), for building a hostile variant of a good bundle.</summary>
    public static List<Entry> Read(string bundle)
    {
        using var reader = new System.Formats.Tar.TarReader(System.IO.File.OpenRead(bundle));
        var entries = new List<Entry>();
        while (reader.GetNextEntry() is { } entry)
        {
            using var memory = new MemoryStream();
            entry.DataStream?.CopyTo(memory);
            entries.Add(Entry.File(entry.Name, memory.ToArray()));
        }

        return entries;
    }

    /// <summary>A ustar header block: <paramref name="type"/> is the typeflag ('0' file, 'x' pax extended header, 'L' GNU long name).</summary>
    public static byte[] Header(string name, char type, long size)
    {
        var block = new byte[512];
        Encoding.ASCII.GetBytes(name).AsSpan(0, Math.Min(name.Length, 100)).CopyTo(block);
        Field(block, 100, 8, "0000644");
        Field(block, 108, 8, "0000000");
        Field(block, 116, 8, "0000000");
        Field(block, 124, 12, Convert.ToString(size, 8).PadLeft(11, '0'));
        Field(block, 136, 12, "00000000000");
        block[156] = (byte)type;
        Encoding.ASCII.GetBytes("ustar\0").CopyTo(block, 257);
        Encoding.ASCII.GetBytes("00").CopyTo(block, 263);
        "        "u8.CopyTo(block.AsSpan(148));
        var sum = block.Sum(b => b);
        Field(block, 148, 8, Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ");
        return block;
    }

    private static void Field(byte[] block, int offset, int length, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        if (bytes.Length > length)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"'{value}' does not fit {length} bytes"));
        }

        bytes.CopyTo(block, offset);
    }
}
