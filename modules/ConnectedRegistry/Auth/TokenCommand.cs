using System.CommandLine;
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
/// 0 done, 2 bad arguments (message on stderr). The options are System.CommandLine's (<see cref="Create"/>), so an
/// unknown one is an error and <c>--help</c> lists them; the values are checked with the twin's own rules.
/// </summary>
public static class TokenCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // Well formed, matches no password: lets the shared rules validate the rest before the real KDF runs.
    private static readonly string ValidationPlaceholderHash =
        $"{PasswordHasher.Scheme}${PasswordHasher.MinIterations}${Convert.ToBase64String(new byte[16])}${Convert.ToBase64String(new byte[32])}";

    /// <summary>Runs <c>token ARGS</c> alone (the registry's command line runs it through <see cref="Create"/>).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) =>
        CommandLineRunner.RunAsync(CommandLineRunner.Root("EdgeConnectedRegistry", Create(stdout)), ["token", .. args], stdout, stderr).GetAwaiter().GetResult();

    /// <summary>The <c>token</c> command and its <c>create</c>; the JSON answer goes to <paramref name="stdout"/>.</summary>
    public static Command Create(TextWriter stdout)
    {
        var name = new Option<string>("--name") { Description = "The token's name (a child's name with --sync): the user name clients log in with.", Required = true };
        var scope = new Option<string[]>("--scope")
        {
            Description = "Client token: PATTERN=ACTION[,ACTION...], repeatable. PATTERN is a repository, 'prefix/*' or '*'; ACTION is content/read, content/write, content/delete, metadata/read or metadata/write.",
            HelpName = "PATTERN=ACTIONS",
        };
        var expiry = new Option<string>("--expiry") { Description = "Client token: when it stops working, ISO-8601 (for example 2027-01-31T00:00:00Z). Default: never.", HelpName = "ISO-8601" };
        var status = new Option<string>("--status") { Description = "Client token: enabled (default) or disabled.", HelpName = "enabled|disabled" };
        var sync = new Option<bool>("--sync") { Description = "A child registry's sync token (the twin's children entry) instead of a client token." };
        var mode = new Option<string>("--mode") { Description = "Sync token: the child's mode, ReadOnly or ReadWrite.", HelpName = "ReadOnly|ReadWrite" };
        var repository = new Option<string[]>("--repository") { Description = "Sync token: a repository or 'prefix/*' the child syncs, repeatable.", HelpName = "PATTERN" };
        var platform = new Option<string[]>("--platform") { Description = "Sync token: a platform the child syncs (os/arch[/variant]), repeatable. Default: every platform.", HelpName = "OS/ARCH" };
        var create = new Command("create", "Make a client token (or with --sync a child's sync token): prints the password, shown only this once, and the twin entry holding its hash.")
        {
            name, scope, expiry, status, sync, mode, repository, platform,
        };
        create.SetAction(result =>
        {
            var error = result.InvocationConfiguration.Error;
            var parsed = Read(result, new(name, scope, expiry, status, sync, mode, repository, platform), out var problem);
            if (parsed is null)
            {
                return CommandLineRunner.Refuse(result, error, problem!);
            }

            var errors = parsed.Sync ? CheckSync(parsed) : CheckClient(parsed);
            if (errors.Count > 0)
            {
                return CommandLineRunner.Refuse(result, error, string.Join(Environment.NewLine, errors));
            }

            var password = NewPassword();
            var hash = PasswordHasher.Hash(password);
            JsonObject output = parsed.Sync ? WithPlatforms(SyncOutput(parsed, password, hash), parsed) : ClientOutput(parsed, password, hash);
            stdout.WriteLine(output.ToJsonString(Indented));
            return 0;
        });
        return new Command("token", "Tokens to put into the twin (clientTokens, children); no registry has to run.") { create };
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

    /// <summary>The values of the options, each checked as the twin would take it; null with the reason when one is not.</summary>
    private static Arguments? Read(ParseResult result, CreateOptions o, out string? error)
    {
        var a = new Arguments { Name = result.GetValue(o.Name), Sync = result.GetValue(o.Sync) };
        a.Repositories.AddRange(result.GetValue(o.Repositories) ?? []);
        a.Platforms.AddRange(result.GetValue(o.Platforms) ?? []);
        error = AddScopes(a.Scopes, result.GetValue(o.Scopes) ?? [])
            ?? ReadExpiry(result.GetValue(o.Expiry), a)
            ?? ReadStatus(result.GetValue(o.Status), a)
            ?? ReadMode(result.GetValue(o.Mode), a)
            ?? (string.IsNullOrEmpty(a.Name) ? "--name is required" : null);
        return error is null ? a : null;
    }

    /// <summary>Each <c>--scope PATTERN=ACTION[,ACTION...]</c> into the scope map, actions kept once; the reason when one is not that.</summary>
    private static string? AddScopes(Dictionary<string, List<string>> scopes, IEnumerable<string> values)
    {
        foreach (var value in values)
        {
            var eq = value.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == value.Length - 1)
            {
                return $"--scope '{value}' is not PATTERN=ACTION[,ACTION...]";
            }

            var pattern = value[..eq];
            if (!scopes.TryGetValue(pattern, out var list))
            {
                scopes[pattern] = list = [];
            }

            foreach (var action in value[(eq + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!list.Contains(action))
                {
                    list.Add(action);
                }
            }
        }

        return null;
    }

    private static string? ReadExpiry(string? text, Arguments a)
    {
        if (text is null)
        {
            return null;
        }

        // The twin's clientTokens.<name>.expiry is read by the same rule.
        if (!SettingRules.Instant.TryRead(text, out var expiry))
        {
            return $"--expiry '{text}' must be {SettingRules.Instant.Takes}";
        }

        a.Expiry = expiry.ToUniversalTime();
        return null;
    }

    private static string? ReadStatus(string? status, Arguments a)
    {
        if (status is null)
        {
            return null;
        }

        a.StatusGiven = true;
        if (status is not ("enabled" or "disabled"))
        {
            return $"--status must be enabled or disabled, not '{status}'";
        }

        a.Enabled = status == "enabled";
        return null;
    }

    private static string? ReadMode(string? text, Arguments a)
    {
        if (text is null)
        {
            return null;
        }

        if (!Enum.TryParse<RegistryMode>(text, ignoreCase: false, out var mode) || !Enum.IsDefined(mode))
        {
            return $"--mode must be ReadOnly or ReadWrite, not '{text}'";
        }

        a.Mode = mode;
        return null;
    }

    private sealed record CreateOptions(Option<string> Name, Option<string[]> Scopes, Option<string> Expiry, Option<string> Status, Option<bool> Sync, Option<string> Mode,
        Option<string[]> Repositories, Option<string[]> Platforms);

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
