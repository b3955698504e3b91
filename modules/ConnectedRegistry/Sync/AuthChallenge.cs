using System.Net.Http.Headers;

namespace ConnectedRegistry.Sync;

/// <summary>
/// One <c>WWW-Authenticate</c> challenge: the scheme (Basic or Bearer) and its parameters
/// (<c>realm</c>, <c>service</c>, <c>scope</c>, …; RFC 7235 auth-params, quoted or token values).
/// </summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? Realm => Parameters.GetValueOrDefault("realm");

    public string? Service => Parameters.GetValueOrDefault("service");

    public string? Scope => Parameters.GetValueOrDefault("scope");

    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    /// <summary>The first Bearer challenge of the response, else the first Basic one, else null.</summary>
    public static AuthChallenge? From(HttpResponseHeaders headers)
    {
        var challenges = headers.WwwAuthenticate.Select(h => Parse(h.Scheme, h.Parameter)).ToList();
        return challenges.FirstOrDefault(c => c.IsBearer) ?? challenges.FirstOrDefault(c => c.IsBasic);
    }

    public static AuthChallenge Parse(string scheme, string? parameter)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var text = parameter ?? string.Empty;
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
            {
                i++;
            }

            var nameStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',')
            {
                i++;
            }

            var name = text[nameStart..i].Trim();
            if (i >= text.Length || text[i] != '=')
            {
                continue; // a token68 or an empty item: nothing we use
            }

            i++; // '='
            var value = i < text.Length && text[i] == '"' ? ReadQuoted(text, ref i) : ReadToken(text, ref i);
            if (name.Length > 0)
            {
                result[name] = value;
            }
        }

        return new AuthChallenge(scheme, result);
    }

    /// <summary>A quoted-string from its opening quote at <paramref name="i"/>, backslash escapes undone; <paramref name="i"/> ends past the closing quote.</summary>
    private static string ReadQuoted(string text, ref int i)
    {
        i++;
        var sb = new System.Text.StringBuilder();
        while (i < text.Length && text[i] != '"')
        {
            if (text[i] == '\\' && i + 1 < text.Length)
            {
                i++;
            }

            sb.Append(text[i]);
            i++;
        }

        i++; // closing quote
        return sb.ToString();
    }

    /// <summary>A token value from <paramref name="i"/> to the next comma (or the end), trimmed.</summary>
    private static string ReadToken(string text, ref int i)
    {
        var valueStart = i;
        while (i < text.Length && text[i] != ',')
        {
            i++;
        }

        return text[valueStart..i].Trim();
    }
}
