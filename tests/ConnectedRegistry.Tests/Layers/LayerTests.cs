using ConnectedRegistry.Tests.Infrastructure;

namespace ConnectedRegistry.Tests.Layers;

/// <summary>
/// The module's folders stand in layers that point one way (docs/design.md, "Layers"): no folder uses one
/// above it, so there are no cycles and Hosting, the composition root, is used by nobody; Twin stands right under
/// it, so no other folder uses the twin (what they share with it is in Core and Identity); and the forbidden
/// pairs (<see cref="ForbiddenPairs"/>) keep a layer off one below it that it has no business with.
/// </summary>
public class LayerTests
{
    /// <summary>Bottom to top; the same order as docs/design.md.</summary>
    public static readonly string[] ModuleLayers =
        ["Oci", "Core", "Identity", "Storage", "Distribution", "Auth", "Events", "Tls", "Sync", "Hierarchy", "Bundles", "Monitoring", "Twin", "Hosting"];

    /// <summary>
    /// Uses the order allows but the design does not: Auth and Monitoring read the request's route from
    /// <c>Core/OciRouteFeature</c> (parsed by <c>Oci/OciRoute</c>), never from the endpoints' layer.
    /// </summary>
    public static readonly (string From, string To)[] ForbiddenPairs = [("Auth", "Distribution"), ("Monitoring", "Distribution")];

    private static readonly LayerChecker Checker = new("ConnectedRegistry", ModuleLayers, ForbiddenPairs);

    [Fact]
    public void No_folder_of_the_module_uses_one_above_it()
    {
        var project = Path.Combine(RepositoryRoot.Path, "modules", "ConnectedRegistry");
        var files = Directory.EnumerateFiles(project, "*.cs", SearchOption.AllDirectories)
            .Select(file => Path.GetRelativePath(project, file).Replace('\\', '/'))
            .Where(path => !path.StartsWith("bin/", StringComparison.Ordinal) && !path.StartsWith("obj/", StringComparison.Ordinal))
            .Select(path => (path, File.ReadAllText(Path.Combine(project, path))))
            .ToList();
        Assert.True(files.Count > 50, $"only {files.Count} source files found under the module folder");

        var violations = Checker.Check(files);

        Assert.True(violations.Count == 0, "wrong-way references:\n" + string.Join('\n', violations));
    }

    [Fact]
    public void Every_layer_of_the_order_is_a_folder_of_the_module()
    {
        var project = Path.Combine(RepositoryRoot.Path, "modules", "ConnectedRegistry");
        var missing = ModuleLayers.Where(layer => !Directory.Exists(Path.Combine(project, layer))).ToList();
        Assert.True(missing.Count == 0, "layers without a folder: " + string.Join(", ", missing));
    }

    [Fact]
    public void A_using_of_a_layer_above_is_reported_with_the_file_and_the_reference()
    {
        var violations = Check(("Storage/BlobStore.cs", """
            using ConnectedRegistry.Core;
            using ConnectedRegistry.Distribution;

            namespace ConnectedRegistry.Storage;
            """));

        var violation = Assert.Single(violations);
        Assert.Equal("Storage/BlobStore.cs", violation.File);
        Assert.Equal(2, violation.Line);
        Assert.Equal("ConnectedRegistry.Distribution", violation.Reference);
        Assert.Contains("Storage uses Distribution", violation.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    var client = services.GetService<ConnectedRegistry.Sync.ParentRegistryClient>();")]
    [InlineData("    var client = services.GetService<global::ConnectedRegistry.Sync.ParentRegistryClient>();")]
    [InlineData("using static ConnectedRegistry.Sync.SyncWindow;")]
    [InlineData("using Client = ConnectedRegistry.Sync.ParentRegistryClient;")]
    [InlineData("/// Reports what <see cref=\"ConnectedRegistry.Sync.ParentSync\"/> did.")]
    public void A_qualified_name_of_a_layer_above_is_reported(string line)
    {
        var violations = Check(("Tls/TlsCertificateProvider.cs", "namespace ConnectedRegistry.Tls;\n\n" + line + "\n"));

        var violation = Assert.Single(violations);
        Assert.Equal(("Tls/TlsCertificateProvider.cs", 3, "ConnectedRegistry.Sync"), (violation.File, violation.Line, violation.Reference));
    }

    [Theory]
    [InlineData("    var client = services.GetService<Sync.ParentRegistryClient>();")]
    [InlineData("    if (context.RequestServices.GetService<Sync.ParentRegistryClient>() is not { } client)")]
    [InlineData("/// Reports what <see cref=\"Sync.ParentSync\"/> did.")]
    [InlineData("    Sync.SyncWindow.Check(now);")]
    public void A_name_qualified_from_a_layer_above_is_reported(string line)
    {
        var violations = Check(("Tls/TlsCertificateProvider.cs", "namespace ConnectedRegistry.Tls;\n\n" + line + "\n"));

        var violation = Assert.Single(violations);
        Assert.Equal(("Tls/TlsCertificateProvider.cs", 3, "ConnectedRegistry.Sync"), (violation.File, violation.Line, violation.Reference));
    }

    [Theory]
    [InlineData("    var minutes = settings.Sync.Schedule;")]
    [InlineData("    var state = Snapshot().Sync.LastSyncTime;")]
    [InlineData("    var x = MySync.Value + Sync.length;")]
    [InlineData("/// The window closes at the end of Sync. Then nothing runs.")]
    [InlineData("    var twin = options.Twin.MaxReportedBytes;")]
    [InlineData("/// Reported to the Twin. Then the reporter waits.")]
    public void A_member_named_like_a_layer_is_not_a_reference(string line)
    {
        Assert.Empty(Check(("Tls/TlsCertificateProvider.cs", "namespace ConnectedRegistry.Tls;\n\n" + line + "\n")));
    }

    [Theory]
    [InlineData("Auth/AccessRequirement.cs", "using ConnectedRegistry.Distribution;")]
    [InlineData("Auth/AccessRequirement.cs", "    var route = Distribution.DistributionRoute.Parse(path);")]
    [InlineData("Monitoring/HttpMetricsMiddleware.cs", "/// <see cref=\"ConnectedRegistry.Distribution.DistributionEndpoints\"/>")]
    [InlineData("Monitoring/HttpMetricsMiddleware.cs", "    var endpoints = services.GetService<global::ConnectedRegistry.Distribution.DistributionEndpoints>();")]
    [InlineData("Monitoring/HttpMetricsMiddleware.cs", "    await Distribution.OciErrorWriter.WriteAsync(context, error);")]
    [InlineData("Monitoring/HttpMetricsMiddleware.cs", "/// Labels as <see cref=\"Distribution.DistributionEndpoints\"/> routes.")]
    [InlineData("Auth/AccessRequirement.cs", "using static ConnectedRegistry.Distribution.DistributionRoute;")]
    [InlineData("Auth/AccessRequirement.cs", "using Route = ConnectedRegistry.Distribution.DistributionRoute;")]
    public void A_forbidden_pair_is_reported_although_the_order_allows_it(string file, string line)
    {
        var folder = file[..file.IndexOf('/', StringComparison.Ordinal)];
        var violations = Check((file, $"namespace ConnectedRegistry.{folder};\n\n{line}\n"));

        var violation = Assert.Single(violations);
        Assert.Equal((file, 3, "ConnectedRegistry.Distribution"), (violation.File, violation.Line, violation.Reference));
        Assert.Contains($"{folder} may not use Distribution", violation.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Uses_of_the_own_layer_and_of_layers_below_pass()
    {
        var violations = Check(
            ("Sync/SyncDown.cs", """
                using ConnectedRegistry.Core;
                using ConnectedRegistry.Identity;
                using ConnectedRegistry.Oci;
                using ConnectedRegistry.Storage;

                namespace ConnectedRegistry.Sync;

                /// <see cref="ConnectedRegistry.Sync.SyncUp"/> and <see cref="ConnectedRegistry.Oci.Digest"/>.
                var guard = Storage.FreeSpaceGuard.None; var window = Sync.SyncWindow.Always;
                """),
            ("Auth/AccessRequirement.cs", "using ConnectedRegistry.Core;\nusing ConnectedRegistry.Oci;\n\nnamespace ConnectedRegistry.Auth;\n\n/// <see cref=\"Core.OciRouteFeature\"/>\n"),
            ("Program.cs", "using ConnectedRegistry.Hosting;\n\nreturn await RegistryHost.RunAsync(args);\n"),
            ("Hosting/RegistryHost.cs", "using ConnectedRegistry.Hierarchy;\nusing ConnectedRegistry.Oci;\nusing ConnectedRegistry.Twin;\n\nnamespace ConnectedRegistry.Hosting;\n"),
            ("Twin/ModuleTwinService.cs", "using ConnectedRegistry.Auth;\nusing ConnectedRegistry.Core;\nusing ConnectedRegistry.Identity;\n\nnamespace ConnectedRegistry.Twin;\n\n/// <see cref=\"Core.DirectMethodResult\"/>\n"));

        Assert.Empty(violations);
    }

    [Fact]
    public void The_twin_stands_right_under_the_composition_root()
    {
        // So a use of Twin from any folder but Hosting is a use of a layer above it: the contracts other parts share
        // with the twin (direct methods, module messages, the desired status, the module identity) are in Core and
        // Identity, and the composition root hands the twin's implementations to whoever needs one.
        Assert.Equal(new[] { "Twin", "Hosting" }, ModuleLayers[^2..]);
    }

    [Theory]
    [InlineData("Sync/SyncNowMethod.cs", "using ConnectedRegistry.Twin;")]
    [InlineData("Tls/TlsCertificateProvider.cs", "    var identity = services.GetService<ConnectedRegistry.Twin.ModuleTwinService>()?.Identity;")]
    [InlineData("Events/EventQueue.cs", "    var client = services.GetService<Twin.ModuleTwinService>()?.Client;")]
    [InlineData("Hierarchy/HierarchyMethods.cs", "/// Answers as <see cref=\"Twin.DirectMethodDispatcher\"/> does.")]
    [InlineData("Bundles/BundleCommand.cs", "    var parsed = global::ConnectedRegistry.Twin.DesiredPropertiesParser.Parse(desired);")]
    [InlineData("Monitoring/MonitoringServiceExtensions.cs", "using Pipeline = ConnectedRegistry.Twin.DesiredPropertiesPipeline;")]
    [InlineData("Storage/RegistryStore.cs", "using ConnectedRegistry.Twin;")]
    [InlineData("Core/ModuleState.cs", "    Twin.TwinJson.Parse(text);")]
    public void No_folder_but_the_composition_root_may_use_the_twin(string file, string line)
    {
        var folder = file[..file.IndexOf('/', StringComparison.Ordinal)];
        var violations = Check((file, $"namespace ConnectedRegistry.{folder};\n\n{line}\n"));

        var violation = Assert.Single(violations);
        Assert.Equal((file, 3, "ConnectedRegistry.Twin"), (violation.File, violation.Line, violation.Reference));
        Assert.Contains($"{folder} uses Twin, a layer above it", violation.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Nothing_may_use_the_composition_root()
    {
        var violations = Check(("Hierarchy/HierarchyMethods.cs", "using ConnectedRegistry.Hosting;\n\nnamespace ConnectedRegistry.Hierarchy;\n"));

        Assert.Equal("ConnectedRegistry.Hosting", Assert.Single(violations).Reference);
    }

    [Fact]
    public void A_file_declaring_the_namespace_of_another_folder_is_reported()
    {
        var violations = Check(("Storage/Sneaky.cs", "namespace ConnectedRegistry.Hosting;\n"));

        var violation = Assert.Single(violations);
        Assert.Equal(("Storage/Sneaky.cs", 1, "ConnectedRegistry.Hosting"), (violation.File, violation.Line, violation.Reference));
    }

    [Fact]
    public void A_folder_without_a_place_in_the_order_and_an_unknown_namespace_are_reported()
    {
        var violations = Check(
            ("Metrics/Counters.cs", "namespace ConnectedRegistry.Metrics;\n"),
            ("Auth/ScopeMap.cs", "using ConnectedRegistry.Metrics;\n\nnamespace ConnectedRegistry.Auth;\n"));

        Assert.Equal(["Metrics/Counters.cs", "Auth/ScopeMap.cs"], violations.Select(v => v.File));
        Assert.Contains("has no place in the layer order", violations[0].Reason, StringComparison.Ordinal);
        Assert.Contains("is not a layer", violations[1].Reason, StringComparison.Ordinal);
    }

    private static IReadOnlyList<LayerViolation> Check(params (string Path, string Source)[] files) => Checker.Check(files);
}
