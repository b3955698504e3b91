#!/usr/bin/env bash
# What a stored manifest costs the CPU: ManifestParser.Parse and the digest of its bytes, timed in-process on a
# typical image manifest (config and 8 layers, annotations) and a typical index (4 platforms), one thread, the best
# of ROUNDS rounds of N parses each (the round least disturbed by other work), with the bytes allocated per call.
# A sync down stores each manifest it copies once: one parse and one digest per manifest (before issue 23, two).
#
#   bench/manifest-parse.sh              # N=100000 ROUNDS=5
#   N=20000 ROUNDS=3 bench/manifest-parse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-100000}"; ROUNDS="${ROUNDS:-5}"
dotnet build bench/manifest-parse/ManifestParseBench.csproj -c Release -nologo -v quiet >/dev/null
dotnet bench/manifest-parse/bin/Release/net10.0/ManifestParseBench.dll "$N" "$ROUNDS"
