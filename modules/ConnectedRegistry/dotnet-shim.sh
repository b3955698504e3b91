#!/bin/sh
# The native image (Dockerfile.amd64) has no .NET runtime. Commands written for the JIT image keep working:
# `dotnet ConnectedRegistry.dll ARGS` (docker exec lines in operators' scripts, an entry point or health check
# overridden in a deployment manifest) runs the executable with the same ARGS.
case "${1:-}" in
  ConnectedRegistry.dll | /app/ConnectedRegistry.dll)
    shift
    exec /app/ConnectedRegistry "$@"
    ;;
esac
echo "dotnet: this image has no .NET runtime (the module is the native executable /app/ConnectedRegistry)" >&2
exit 127
