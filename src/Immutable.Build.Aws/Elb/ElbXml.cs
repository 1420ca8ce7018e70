using System.Globalization;
using System.Xml.Linq;

namespace Immutable.Build.Aws.Elb;

/// <summary>
/// Reading Query API answers by local name: AWS answers in the 2015-12-01 namespace, but emulators and proxies are
/// not always exact about it, and a wrong namespace should not turn an answer into an empty one.
/// </summary>
internal static class ElbXml
{
    /// <summary>The <c>{Action}Result</c> element of an answer, or an empty element when the answer has none.</summary>
    public static XElement Result(XDocument answer, string action) =>
        answer.Root?.Elements().FirstOrDefault(e => e.Name.LocalName == action + "Result") ?? new XElement(action + "Result");

    /// <summary>The first child with this local name.</summary>
    public static XElement? Child(this XElement? parent, string name) =>
        parent?.Elements().FirstOrDefault(e => e.Name.LocalName == name);

    /// <summary>The text of the first child with this local name, or null when it is absent or empty.</summary>
    public static string? Text(this XElement? parent, string name) =>
        parent.Child(name)?.Value is { Length: > 0 } value ? value.Trim() : null;

    /// <summary>The child as a number, or null.</summary>
    public static int? Int(this XElement? parent, string name) =>
        int.TryParse(parent.Text(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : null;

    /// <summary>The <c>member</c> elements of the list child <paramref name="list"/> (the Query API's list shape).</summary>
    public static IEnumerable<XElement> Members(this XElement? parent, string list) =>
        parent.Child(list)?.Elements().Where(e => e.Name.LocalName == "member") ?? [];

    /// <summary>Key/Value members (tags, attributes) as a dictionary.</summary>
    public static Dictionary<string, string> Pairs(this XElement? parent, string list)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var member in parent.Members(list))
        {
            if (member.Text("Key") is { } key)
            {
                pairs[key] = member.Child("Value")?.Value ?? "";
            }
        }

        return pairs;
    }
}
