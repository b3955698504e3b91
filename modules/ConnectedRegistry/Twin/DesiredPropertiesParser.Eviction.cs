using System.Globalization;
using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary>
/// <c>storage.evictBelowFreeBytes</c> and <c>storage.pinPulledWithin</c>: when content fetched on demand is evicted,
/// and what is never evicted (anything pulled within the period).
/// </summary>
public static partial class DesiredPropertiesParser
{
    /// <summary><c>storage.pinPulledWithin</c>: at least a second (tests and short-lived caches), at most ten years.</summary>
    public static readonly TimeSpan MinPinPulledWithin = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxPinPulledWithin = TimeSpan.FromDays(3650);

    /// <summary>The rule of <c>storage.pinPulledWithin</c> (<see cref="SettingRules.Duration"/>).</summary>
    public static readonly SettingRule<TimeSpan> PinPulledWithinRule = SettingRules.Duration(MinPinPulledWithin, MaxPinPulledWithin, new StorageSettings().PinPulledWithin);

    /// <summary>Adds the eviction members of <c>storage</c> to <paramref name="storage"/> (its <c>minFreeBytes</c> parsed already).</summary>
    private static StorageSettings ParseEviction(JObject doc, StorageSettings storage, List<string> errors)
    {
        if (!doc.TryGetValue("storage", out var section) || section is not JObject owner)
        {
            return storage; // absent, or not an object (said once, by ParseStorage)
        }

        if (Number(owner, "evictBelowFreeBytes", "storage.evictBelowFreeBytes", FreeBytesRule, errors) is { } bytes)
        {
            if (storage.MinFreeBytes is { } min && bytes < min)
            {
                errors.Add($"storage.evictBelowFreeBytes {bytes.ToString(CultureInfo.InvariantCulture)} is below storage.minFreeBytes {min.ToString(CultureInfo.InvariantCulture)}: eviction must start before writes are refused (use a value at least as large, or leave it out for {StorageSettings.DefaultEvictionFactor} times the minimum)");
            }
            else
            {
                storage = storage with { EvictBelowFreeBytes = bytes };
            }
        }

        if (Duration(owner, "pinPulledWithin", "storage.pinPulledWithin", PinPulledWithinRule, errors) is { } pin)
        {
            storage = storage with { PinPulledWithin = pin };
        }

        return storage;
    }
}
