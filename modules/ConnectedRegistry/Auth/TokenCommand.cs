using System.Globalization;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using ConnectedRegistry.Core;

namespace ConnectedRegistry.Auth;

/// <summary>
/// <c>token create</c>: makes a client token (or, with <c>--sync</c>, a child registry's sync token).
/// Generates a strong password and prints one JSON object with the password (shown only this once)
/// and the entry to paste into the twin under <c>clientTokens</c> (or <c>children</c>). Exit codes:
/// 0 done, 2 bad arguments (message on stderr).
/// </summary>
public static class TokenCommand
{
    public const string Usage = """
        usage:
          token create --name NAME --scope 'PATTERN=ACTION[,ACTION...]' [--scope ...]
                       [--expiry ISO-8601] [--status enabled|disabled]
          token create --sync --name CHILD --mode ReadOnly|ReadWrite --repository R [--repository R ...]
                       [--platform os/arch[/variant] ...]

        PATTERN is a repository name, 'prefix/*' or '*'; ACTION is one of
        content/read, content/write, content/delete, metadata/read, metadata/write.
        Prints one JSON object: the password (shown once) and the twin entry holding its hash.
        """;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // Well formed, matches no password: lets the shared rules validate the rest before the real KDF runs.
    private static readonly string ValidationPlaceholderHash =
        $"{PasswordHasher.Scheme}${PasswordHasher.MinIterations}${Convert.ToBase64String(new byte[16])}${Convert.ToBase64String(new byte[32])}";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? stderr : stdout).WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }

        if (args[0] != "create")
        {
            return Fail(stderr, $"unknown token command '{args[0]}'");
        }

        var parsed = Parse(args[1..], out var error);
        if (parsed is null)
        {
            return Fail(stderr, error!);
        }

        var errors = parsed.Sync ? CheckSync(parsed) : CheckClient(parsed);
        if (errors.Count > 0)
        {
            return Fail(stderr, string.Join(Environment.NewLine, errors));
        }

        var password = NewPassword();
        var hash = PasswordHasher.Hash(password);
        JsonObject output = parsed.Sync ? WithPlatforms(SyncOutput(parsed, password, hash), parsed) : ClientOutput(parsed, password, hash);
        stdout.WriteLine(output.ToJsonString(Indented));
        return 0;
    }

    /// <summary>32 random bytes, base64url: 43 characters, safe in shells, URLs and Basic credentials.</summary>
    public static string NewPassword() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static JsonObject ClientOutput(Arguments a, string password, string hash)
    {
        var scopeMap = new JsonObject();
        foreach (var (pattern, actions) in a.Scopes)
        {
            scopeMap[pattern] = new JsonArray([.. actions.Select(x => (JsonNode)JsonValue.Create(x))]);
        }

        var entry = new JsonObject
        {
            ["passwordHash"] = hash,
            ["scopeMap"] = scopeMap,
            ["status"] = a.Enabled ? "enabled" : "disabled",
        };
        if (a.Expiry is { } expiry)
        {
            entry["expiry"] = expiry.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        }

        return new JsonObject
        {
            ["name"] = a.Name,
            ["password"] = password,
            ["clientTokens"] = new JsonObject { [a.Name!] = entry },
        };
    }

    private static JsonObject SyncOutput(Arguments a, string password, string hash) => new()
    {
        ["name"] = a.Name,
        ["password"] = password,
        ["children"] = new JsonObject
        {
            [a.Name!] = new JsonObject
            {
                ["mode"] = a.Mode.ToString(),
                ["syncTokenPasswordHash"] = hash,
                ["repositories"] = new JsonArray([.. a.Repositories.Select(r => (JsonNode)JsonValue.Create(r))]),
            },
        },
    };

    /// <summary>The child entry, with <c>platforms</c> when the child names some (its <c>sync.platforms</c>: the parent syncs them too).</summary>
    private static JsonObject WithPlatforms(JsonObject output, Arguments a)
    {
        if (a.Platforms.Count > 0)
        {
            output["children"]![a.Name!]!["platforms"] = new JsonArray([.. a.Platforms.Select(p => (JsonNode)JsonValue.Create(p))]);
        }

        return output;
    }

    private static List<string> CheckClient(Arguments a)
    {
        var errors = new List<string>();
        if (a.Mode is not null || a.Repositories.Count > 0 || a.Platforms.Count > 0)
        {
            errors.Add("--mode, --repository and --platform are for --sync tokens only");
        }

        if (a.Scopes.Count == 0)
        {
            errors.Add("at least one --scope 'PATTERN=ACTION[,ACTION...]' is required");
            return errors;
        }

        var token = new ClientTokenSettings
        {
            PasswordHash = ValidationPlaceholderHash,
            ScopeMap = a.Scopes.ToDictionary(s => s.Key, s => (IReadOnlyList<string>)s.Value, StringComparer.Ordinal),
            Enabled = a.Enabled,
            Expiry = a.Expiry,
        };
        errors.AddRange(AuthRules.ValidateClientToken(a.Name!, token).Select(e => e.Replace($"clientTokens.{AuthRules.Shorten(a.Name!)}: ", "", StringComparison.Ordinal)));
        if (a.Expiry is { } expiry && expiry <= DateTimeOffset.UtcNow)
        {
            errors.Add("--expiry is in the past");
        }

        return errors;
    }

    private static List<string> CheckSync(Arguments a)
    {
        var errors = new List<string>();
        if (a.Scopes.Count > 0 || a.Expiry is not null || a.StatusGiven)
        {
            errors.Add("--scope, --expiry and --status are for client tokens only; a child's access comes from --mode and --repository");
        }

        if (a.Mode is null)
        {
            errors.Add("--mode ReadOnly|ReadWrite is required with --sync");
            return errors;
        }

        var child = new ChildRegistrySettings
        {
            Mode = a.Mode.Value,
            SyncTokenPasswordHash = ValidationPlaceholderHash,
            Repositories = a.Repositories,
        };
        errors.AddRange(AuthRules.ValidateChild(a.Name!, child, RegistryMode.ReadWrite).Select(e => e.Replace($"children.{AuthRules.Shorten(a.Name!)}: ", "", StringComparison.Ordinal)));
        errors.AddRange(a.Platforms.Select(p => SyncFilter.PlatformError(p) is { } reason ? $"--platform '{p}' {reason}" : null).OfType<string>());
        return errors;
    }

    private static Arguments? Parse(string[] args, out string? error)
    {
        var a = new Arguments();
        error = null;
        for (var i = 0; i < args.Length; i++)
        {
            var option = args[i];
            if (option == "--sync")
            {
                a.Sync = true;
                continue;
            }

            if (i + 1 >= args.Length)
            {
                error = $"{option} needs a value";
                return null;
            }

            var value = args[++i];
            switch (option)
            {
                case "--name":
                    a.Name = value;
                    break;
                case "--scope":
                    var eq = value.IndexOf('=', StringComparison.Ordinal);
                    if (eq <= 0 || eq == value.Length - 1)
                    {
                        error = $"--scope '{value}' is not PATTERN=ACTION[,ACTION...]";
                        return null;
                    }

                    var pattern = value[..eq];
                    if (!a.Scopes.TryGetValue(pattern, out var list))
                    {
                        a.Scopes[pattern] = list = [];
                    }

                    foreach (var action in value[(eq + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (!list.Contains(action))
                        {
                            list.Add(action);
                        }
                    }

                    break;
                case "--expiry":
                    if (!DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var expiry))
                    {
                        error = $"--expiry '{value}' is not an ISO-8601 date and time (for example 2027-01-31T00:00:00Z)";
                        return null;
                    }

                    a.Expiry = expiry;
                    break;
                case "--status":
                    a.StatusGiven = true;
                    if (value is not ("enabled" or "disabled"))
                    {
                        error = $"--status must be enabled or disabled, not '{value}'";
                        return null;
                    }

                    a.Enabled = value == "enabled";
                    break;
                case "--mode":
                    if (!Enum.TryParse<RegistryMode>(value, ignoreCase: false, out var mode) || !Enum.IsDefined(mode))
                    {
                        error = $"--mode must be ReadOnly or ReadWrite, not '{value}'";
                        return null;
                    }

                    a.Mode = mode;
                    break;
                case "--repository":
                    a.Repositories.Add(value);
                    break;
                case "--platform":
                    a.Platforms.Add(value);
                    break;
                default:
                    error = $"unknown option '{option}'";
                    return null;
            }
        }

        if (string.IsNullOrEmpty(a.Name))
        {
            error = "--name is required";
            return null;
        }

        return a;
    }

    private static int Fail(TextWriter stderr, string message)
    {
        stderr.WriteLine($"token: {message}");
        stderr.WriteLine();
        stderr.WriteLine(Usage);
        return 2;
    }

    private sealed class Arguments
    {
        public string? Name { get; set; }

        public bool Sync { get; set; }

        public Dictionary<string, List<string>> Scopes { get; } = new(StringComparer.Ordinal);

        public DateTimeOffset? Expiry { get; set; }

        public bool Enabled { get; set; } = true;

        public bool StatusGiven { get; set; }

        public RegistryMode? Mode { get; set; }

        public List<string> Repositories { get; } = [];

        public List<string> Platforms { get; } = [];
    }
}
