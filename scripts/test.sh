#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine with the .NET 10 SDK:
# installs the real parts the tests drive (skopeo, docker-registry, htpasswd, the Docker engine, nginx, Python's
# Prometheus client, mmdebstrap and iproute2 for the image tests, iptables for the dead-path tests) when missing,
# builds, runs every test project, and ends with one plain line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The Docker engine (a private dockerd per test run) and nginx (the IoT Edge API proxy's configuration) live in sbin.
PATH="$PATH:/usr/sbin:/sbin"
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
# The image tests make stand-in .NET base images (mmdebstrap) and a second device (ip netns).
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The dead-path tests drop a loopback port's packets (iptables; docker.io pulls it in too).
command -v iptables >/dev/null 2>&1 || need+=(iptables)
# The metrics tests read /metrics with the Prometheus client's own text parser.
/usr/bin/python3 -c 'import prometheus_client.parser' >/dev/null 2>&1 || need+=(python3-prometheus-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
results="$(pwd)/TestResults"
rm -rf "$results"
mkdir -p "$results"

if ! dotnet build EdgeConnectedRegistry.sln -c Release -nologo -v quiet; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

status=0
for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  dotnet test "$project" -c Release --no-build -nologo \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=minimal" \
    --results-directory "$results" --blame-hang-timeout 5m \
    --filter "Category!=Benchmark" || status=1
done

passed=0
failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # a test host crashed or hung: count it, never report green
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
