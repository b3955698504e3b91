using ConnectedRegistry.Hosting;

return await RegistryHost.RunAsync(args);
