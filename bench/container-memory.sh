#!/usr/bin/env bash
# The module's image under a memory limit, as a small gateway runs it: the image of DOCKERFILE built in a private
# dockerd on the stand-in base images (as bench/image.sh), run twice on the host network, first with no limit, then with
# `docker run --memory $MEMORY`, each time a fresh data folder and the shared harness's compare workload against it
# (the container's registry process as --pid, so peak and end RSS are the registry's). Prints each run's figures, the
# limited run's throughput as a ratio of the unlimited one's (same run, same machine), and whether the engine
# OOM-killed either container (.State.OOMKilled).
#
#   sudo bench/container-memory.sh                                          # Dockerfile.amd64 (native AOT), 256m
#   sudo DOCKERFILE=modules/ConnectedRegistry/Dockerfile.amd64.jit bench/container-memory.sh   # the JIT image
#
# env: DOCKERFILE [modules/ConnectedRegistry/Dockerfile.amd64], MEMORY [256m], PORT [5731], PORT_METRICS [5732],
#      BENCH_DIR [../shared/bench beside the clone], PHASES [push,pull,small,parallel,latency], BASE, KEEP, plus every
#      size variable of the harness (REPEAT, BIG_LAYER_MB, ...). KEEP=1 BASE=DIR keeps the engine and its image in DIR;
#      a later run with the same BASE and REUSE_IMAGE=1 measures that image again without building it.
set -euo pipefail
ROOT="${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
BENCH_DIR="${BENCH_DIR:-$ROOT/../shared/bench}"
DOCKERFILE="${DOCKERFILE:-modules/ConnectedRegistry/Dockerfile.amd64}"
MEMORY="${MEMORY:-256m}"
PORT="${PORT:-5731}"
PORT_METRICS="${PORT_METRICS:-5732}"
source "$ROOT/bench/lib.sh"
[[ -x "$BENCH_DIR/registry-bench.sh" ]] || die "benchmark harness not found in $BENCH_DIR (set BENCH_DIR)"
start_private_dockerd
if [[ "${REUSE_IMAGE:-0}" == 1 ]] && docker image inspect connected-registry:memory >/dev/null 2>&1; then
  echo "image: the one built by an earlier run kept in $BASE (REUSE_IMAGE=1)"
else
  bash "$ROOT/scripts/stand-in-base-images.sh" "$BASE/base" >/dev/null
  t0=$(now)
  docker build -q --network host -f "$ROOT/$DOCKERFILE" -t connected-registry:memory "$ROOT" >/dev/null
  echo "image $DOCKERFILE: built in $(sub "$(now)" "$t0") s, $(docker image inspect --format '{{.Size}}' connected-registry:memory | awk '{ printf "%.0f", $1 / 1e6 }') MB"
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

run_one() { # NAME [docker run options...]: a fresh container, the harness against it, its OOM state
  local name=$1; shift
  local data="$BASE/$name/srv"
  mkdir -p "$data/twin"
  echo '{ "schemaVersion": "1.0" }' > "$data/twin/desired.json"
  docker run -d --name "cr-$name" --network host "$@" -e "ASPNETCORE_URLS=http://127.0.0.1:$PORT" \
    -e "REGISTRY_METRICS_URLS=http://127.0.0.1:$PORT_METRICS" -e Logging__LogLevel__Default=Warning \
    -v "$data:/var/lib/connected-registry" connected-registry:memory >/dev/null
  local pid
  pid=$(docker inspect -f '{{.State.Pid}}' "cr-$name")
  wait_up "$PORT" "$pid" /dev/null
  "$BENCH_DIR/registry-bench.sh" "127.0.0.1:$PORT" --pid "$pid" --phases "${PHASES:-push,pull,small,parallel,latency}" \
    --label "$name" --json-out "$BASE/$name.json" > "$BASE/$name.txt" || echo "$name: the harness failed (see $BASE/$name.txt)"
  echo "$name: OOMKilled=$(docker inspect -f '{{.State.OOMKilled}}' "cr-$name") running=$(docker inspect -f '{{.State.Running}}' "cr-$name") restarts=$(docker inspect -f '{{.RestartCount}}' "cr-$name")"
  docker rm -f "cr-$name" >/dev/null
}
run_one unlimited
run_one limited --memory "$MEMORY" --memory-swap "$MEMORY"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$BASE/unlimited.json" "$BASE/limited.json" "$MEMORY" <<'PY'
import json, sys
u = json.load(open(sys.argv[1]))["metrics"]; l = json.load(open(sys.argv[2]))["metrics"]
print(f"{'metric':34} {'unlimited':>12} {'--memory ' + sys.argv[3]:>14} {'limited/unlimited':>18}")
for k in sorted(set(u) & set(l)):
    uv, lv = u[k]["median"], l[k]["median"]
    if not isinstance(uv, (int, float)) or not isinstance(lv, (int, float)) or uv == 0:
        continue
    print(f"{k:34} {uv:12.2f} {lv:14.2f} {lv/uv:18.2f}")
PY
