#!/usr/bin/env bash
# The module's image as a user meets it (DOCKERFILE, default modules/ConnectedRegistry/Dockerfile.amd64, the native
# one; .jit for the JIT one): build time of the Dockerfile (from the repository root, the stand-in base
# images already in place, so a cold build of the application's layers), its size, the time from `docker run` to
# /readyz 200 on a fresh bind folder (created by the engine, root's), that of `docker stop` (SIGTERM, exit code), and
# the registry's resident memory idle in the container. Runs a private dockerd (root; vfs storage, no bridge) so the
# machine's own engine is never touched; the stand-in base images come from scripts/stand-in-base-images.sh.
# usage: sudo bench/image.sh            RUNS=5 (docker run → ready and docker stop, medians of RUNS)
set -euo pipefail
ROOT="${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
source "$ROOT/bench/lib.sh"
RUNS="${RUNS:-5}"
start_private_dockerd
bash "$ROOT/scripts/stand-in-base-images.sh" "$BASE/base" >/dev/null
t0=$(now)
docker build -q --network host -f "$ROOT/${DOCKERFILE:-modules/ConnectedRegistry/Dockerfile.amd64}" -t connected-registry:bench "$ROOT" >/dev/null
build_s=$(sub "$(now)" "$t0")
size_mb=$(docker image inspect --format '{{.Size}}' connected-registry:bench | awk '{ printf "%.0f", $1 / 1e6 }')

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ready=() stop=() rss=()
for i in $(seq "$RUNS"); do
  # A fresh device: a folder only root has written (the desired document an operator put there; until a document
  # applies the registry is not ready), handed to the app user by the entry point.
  data="$BASE/device-$i/srv/connected-registry"
  mkdir -p "$data/twin"
  echo '{ "schemaVersion": "1.0", "name": "edge-bench-1" }' > "$data/twin/desired.json"
  t0=$(now)
  docker run -d --name "cr-$i" --network host -e ASPNETCORE_URLS=http://127.0.0.1:18080 \
    -e REGISTRY_METRICS_URLS=http://127.0.0.1:19600 -v "$data:/var/lib/connected-registry" connected-registry:bench >/dev/null
  until curl -fs -o /dev/null http://127.0.0.1:19600/readyz; do
    [[ "$(docker inspect -f '{{.State.Running}}' "cr-$i")" == true ]] || die "the container stopped: $(docker logs "cr-$i" 2>&1 | tail -3)"
    sleep 0.05
  done
  ready+=("$(sub "$(now)" "$t0")")
  sleep 5
  pid=$(docker inspect -f '{{.State.Pid}}' "cr-$i")
  rss+=("$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")")
  t0=$(now)
  docker stop "cr-$i" >/dev/null
  stop+=("$(sub "$(now)" "$t0")")
  code=$(docker inspect -f '{{.State.ExitCode}}' "cr-$i")
  [[ "$code" == 0 ]] || die "docker stop: exit code $code"
  docker rm "cr-$i" >/dev/null
done

echo "image: build ${build_s} s (application layers on the stand-in base images), size ${size_mb} MB"
echo "docker run -> /readyz 200: median $(printf '%s\n' "${ready[@]}" | median) s (runs: ${ready[*]})"
echo "docker stop: median $(printf '%s\n' "${stop[@]}" | median) s, exit code 0 (runs: ${stop[*]})"
echo "idle RSS of the registry in the container: median $(printf '%s\n' "${rss[@]}" | median) MiB"
