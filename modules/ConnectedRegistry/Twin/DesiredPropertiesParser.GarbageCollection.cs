using ConnectedRegistry.Core;
using Newtonsoft.Json.Linq;

namespace ConnectedRegistry.Twin;

/// <summary><c>garbageCollection</c>: whether and when it runs, and whether untagged manifests go too.</summary>
public static partial class DesiredPropertiesParser
{
    private static GarbageCollectionSettings ParseGarbageCollection(JObject doc, List<string> errors)
    {
        var defaults = new GarbageCollectionSettings();
        if (Obj(doc, "garbageCollection", "garbageCollection", errors) is not { } gc)
        {
            return defaults;
        }

        var enabled = Bool(gc, "enabled", "garbageCollection.enabled", errors) ?? defaults.Enabled;
        var schedule = Cron(Str(gc, "schedule", "garbageCollection.schedule", errors) ?? defaults.Schedule, "garbageCollection.schedule", errors) ?? defaults.Schedule;

        var untagged = Bool(gc, "deleteUntaggedManifests", "garbageCollection.deleteUntaggedManifests", errors) ?? defaults.DeleteUntaggedManifests;
        return new GarbageCollectionSettings { Enabled = enabled, Schedule = schedule, DeleteUntaggedManifests = untagged };
    }
}
