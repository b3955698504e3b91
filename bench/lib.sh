# Shared by every benchmark script (sourced, not run): the run's deadline, background processes stopped at exit,
# the temporary folder removed (unless KEEP=1), timing helpers, docker-registry instances, and the registry built in
# Release (build_ours).
# Optional before sourcing: ROOT (the clone; default the current folder), BASE (the temporary folder; default a
# fresh one), BENCH_NAME
# (prefix of error messages; default the script's name), LIMIT_S (seconds for the whole run; default 3600), a
# function bench_cleanup, called at exit after the processes in PIDS were signalled and before they are waited for.
# Every script takes KEEP=1 (keep BASE and its raw results) and OURS_DLL (run that build of the module instead of
# building this clone's, for example an older commit's to compare against); those that start the module through OURS
# (compare.sh) also take OURS_BIN, a published executable of it (the native AOT publish, see docs/design.md).
BENCH_NAME="${BENCH_NAME:-$(basename "$0" .sh)}"
LIMIT_S="${LIMIT_S:-3600}"
ROOT="${ROOT:-$(pwd)}"
BASE="${BASE:-$(mktemp -d)}"
mkdir -p "$BASE"
DEADLINE=$(( $(date +%s) + LIMIT_S ))
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ "${KEEP:-0}" == 1 ]] && echo "raw results kept in $BASE" >&2 || rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
left() { local l=$(( DEADLINE - $(date +%s) )); (( l > 0 )) || die "time limit of ${LIMIT_S}s reached"; echo "$l"; }
now() { date +%s.%N; }
# require_bench_tools TOOL...: the shared harness's make-images.py (in BENCH_DIR) and every TOOL, or a clear exit
require_bench_tools() {
  [[ -f "$BENCH_DIR/make-images.py" ]] || die "make-images.py not found in $BENCH_DIR (set BENCH_DIR)"
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install docker-registry skopeo)"
  done
}
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# distribution_config NAME PORT [HTPASSWD]: writes $BASE/NAME.yml, a docker-registry on 127.0.0.1:PORT storing in
# $BASE/NAME-data, quiet, with htpasswd Basic auth when a file is given.
distribution_config() {
  mkdir -p "$BASE/$1-data"
  cat > "$BASE/$1.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $BASE/$1-data
http:
  addr: 127.0.0.1:$2
YML
  if [[ -n "${3:-}" ]]; then
    printf 'auth:\n  htpasswd:\n    realm: %s\n    path: %s\n' "$1" "$3" >> "$BASE/$1.yml"
  fi
}

wait_up() { # PORT PID LOG: waits for /v2/ to answer on 127.0.0.1:PORT with anything but 503 (this module answers 503
  # until a desired document applies: a script that forgot to write one stops here, not with the harness's first push),
  # showing LOG and stopping when the process exits first
  local code
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/" || true)
    [[ "$code" != 000 && "$code" != 503 ]] && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "process on port $1 exited"; }
    sleep 0.1
  done
  die "nothing listening on 127.0.0.1:$1"
}

upload_blob() { # PORT REPOSITORY FILE [DIGEST]: uploads FILE as a blob of REPOSITORY at 127.0.0.1:PORT (POST, then one PUT
  # with the digest, hashed here unless given); prints the digest
  local port=$1 repository=$2 file=$3 digest=${4:-} location sep
  [[ -n "$digest" ]] || digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  location=$(curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$port/v2/$repository/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:" {print $2}')
  [[ "$location" == http* ]] || location="http://127.0.0.1:$port$location"
  sep='?'; [[ "$location" == *\?* ]] && sep='&'
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" "$location${sep}digest=$digest" -o /dev/null \
    || die "upload of $file to 127.0.0.1:$port/$repository failed"
  echo "$digest"
}

start_distribution() { # NAME PORT: a docker-registry with its own storage, no auth, its pid in PIDS
  distribution_config "$1" "$2"
  docker-registry serve "$BASE/$1.yml" > "$BASE/$1.log" 2>&1 &
  PIDS+=($!)
  wait_up "$2" "$!" "$BASE/$1.log"
}

build_ours() { # sets OURS, the command that starts the module: the OURS_BIN given (a published executable), else by
  # OURS_BUILD: "aot" publishes this clone as the amd64 image builds it (native AOT, one executable: clang, or gcc with
  # zlib's headers, must be installed) into modules/ConnectedRegistry/bin/bench-aot; "jit" (the default here) builds it
  # in Release and runs dotnet OURS_DLL (or the OURS_DLL given). The scripts that measure what the image ships (compare.sh,
  # sync-compare.sh) set OURS_BUILD=aot unless told otherwise.
  if [[ -n "${OURS_BIN:-}" ]]; then
    [[ -x "$OURS_BIN" ]] || die "OURS_BIN $OURS_BIN is not an executable"
    OURS=("$OURS_BIN")
    return 0
  fi
  if [[ "${OURS_BUILD:-jit}" == aot && -z "${OURS_DLL:-}" ]]; then
    local out="$ROOT/modules/ConnectedRegistry/bin/bench-aot" linker=()
    command -v clang >/dev/null || linker=(-p:CppCompilerAndLinker=gcc)
    echo "== publishing the native executable (native AOT, a few minutes)" >&2
    dotnet publish "$ROOT/modules/ConnectedRegistry/ConnectedRegistry.csproj" -c Release -p:PublishProfile=aot "${linker[@]}" \
      -o "$out" -nologo -v quiet >/dev/null || die "native AOT publish failed (OURS_BUILD=jit measures the JIT build)"
    OURS=("$out/ConnectedRegistry")
    return 0
  fi
  [[ "${OURS_BUILD:-jit}" == aot || "${OURS_BUILD:-jit}" == jit ]] || die "OURS_BUILD is aot or jit, not $OURS_BUILD"
  OURS=(dotnet "${OURS_DLL:-$ROOT/modules/ConnectedRegistry/bin/Release/net10.0/ConnectedRegistry.dll}")
  if [[ -n "${OURS_DLL:-}" ]]; then
    [[ -f "$OURS_DLL" ]] || die "OURS_DLL $OURS_DLL does not exist"
    return 0
  fi
  dotnet build "$ROOT/modules/ConnectedRegistry" -c Release -nologo -v quiet >/dev/null
  OURS_DLL="${OURS[1]}"
}

# run_benchmark_test NAME OUT_VARIABLE: for the benchmarks that are Category=Benchmark tests of the integration test
# project: builds the tests, runs the test class NAME REPEAT times (default 1) with the environment variable
# OUT_VARIABLE naming a file each run appends its JSON line to, then prints those lines. SCENARIO narrows the run to
# the tests of NAME whose name contains it; the load before and after goes to stderr.
run_benchmark_test() {
  local out="$BASE/$1.jsonl" filter="FullyQualifiedName~$1"
  : > "$out"
  [ -n "${SCENARIO:-}" ] && filter="$filter&FullyQualifiedName~$SCENARIO"
  dotnet build "$ROOT/tests/ConnectedRegistry.IntegrationTests" -c Release -nologo -v quiet >/dev/null
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
  for _ in $(seq 1 "${REPEAT:-1}"); do
    env "$2=$out" dotnet test "$ROOT/tests/ConnectedRegistry.IntegrationTests" -c Release --no-build -nologo \
      --filter "$filter" --logger "console;verbosity=minimal" >/dev/null
  done
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  cat "$out"
}

# start_private_dockerd: a Docker engine of this run's own (root; vfs storage, no bridge, data in $BASE/dockerd), so
# the machine's engine is never touched; exports DOCKER_HOST and DOCKER_CONFIG for it and sets bench_cleanup to remove
# its containers and stop it at exit. Needs root and dockerd; PATH gains the sbin folders.
start_private_dockerd() {
  PATH="$PATH:/usr/sbin:/sbin"
  [[ "$(id -u)" -eq 0 ]] || die "needs root (a private dockerd)"
  command -v dockerd >/dev/null || die "dockerd is missing (apt-get install docker.io)"
  engine="$BASE/dockerd"
  mkdir -p "$engine"
  echo '{}' > "$engine/daemon.json"
  dockerd --data-root "$engine/data" --exec-root "$engine/exec" -H "unix://$engine/docker.sock" --pidfile "$engine/dockerd.pid" \
    --config-file "$engine/daemon.json" --storage-driver=vfs --iptables=false --bridge=none >"$engine/log" 2>&1 &
  # not in PIDS: bench_cleanup removes the containers first, then stops the engine
  export DOCKER_HOST="unix://$engine/docker.sock" DOCKER_CONFIG="$engine/client"
  bench_cleanup() {
    docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true
    kill "$(cat "$engine/dockerd.pid" 2>/dev/null)" 2>/dev/null || true
    sleep 2
    umount -l "$engine"/exec/netns/* 2>/dev/null || true
  }
  for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 1; done
  docker version >/dev/null 2>&1 || die "the private dockerd did not start: $(tail -5 "$engine/log")"
}
