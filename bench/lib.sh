# Shared by the bench scripts (sourced): die, and wait_up PORT PID LOG (waits for /v2/ to answer on 127.0.0.1:PORT,
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
