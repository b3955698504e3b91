# Sourced by the bench scripts: the processes a script starts (PIDS, stopped on exit) and wait_up, and the
# registry built in Release (OURS_DLL).
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

wait_up() { # PORT PID LOG
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/v2/" && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; exit 1; }
    sleep 0.1
  done
  echo "nothing listening on 127.0.0.1:$1" >&2; exit 1
}

dotnet build modules/ConnectedRegistry -c Release -nologo -v quiet >/dev/null
OURS_DLL="$ROOT/modules/ConnectedRegistry/bin/Release/net10.0/ConnectedRegistry.dll"
