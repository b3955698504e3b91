# Shared by the bench scripts (sourced): die, start_distribution NAME PORT, and wait_up PORT PID LOG (waits for /v2/ to answer on 127.0.0.1:PORT,
# showing LOG and stopping when the process exits first). The sourcing script names itself in BENCH_NAME.
die() { echo "${BENCH_NAME:-bench}: $*" >&2; exit 1; }

wait_up() { # PORT PID LOG
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "http://127.0.0.1:$1/v2/" && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "process on port $1 exited"; }
    sleep 0.1
  done
  die "nothing listening on 127.0.0.1:$1"
}

# start_distribution NAME PORT: a docker-registry with its own storage in $BASE/NAME-data, no auth, its pid in PIDS
start_distribution() { # NAME PORT : a docker-registry with its own storage, no auth
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
  docker-registry serve "$BASE/$1.yml" > "$BASE/$1.log" 2>&1 &
  PIDS+=($!)
  wait_up "$2" "$!" "$BASE/$1.log"
}
