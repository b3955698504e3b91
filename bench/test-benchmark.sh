# Shared by the benchmarks that are Category=Benchmark tests of the integration test project (sourced, not run).
# run_benchmark_test NAME OUT_VARIABLE: builds the tests, runs the test class NAME REPEAT times (default 1) with the
# environment variable OUT_VARIABLE naming a file each run appends its JSON line to, then prints those lines.
# SCENARIO narrows the run to the tests of NAME whose name contains it; the load before and after goes to stderr.
run_benchmark_test() {
  local out filter="FullyQualifiedName~$1"
  out=$(mktemp)
  [ -n "${SCENARIO:-}" ] && filter="$filter&FullyQualifiedName~$SCENARIO"
  dotnet build tests/ConnectedRegistry.IntegrationTests -c Release -nologo -v quiet >/dev/null
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
  for _ in $(seq 1 "${REPEAT:-1}"); do
    env "$2=$out" dotnet test tests/ConnectedRegistry.IntegrationTests -c Release --no-build -nologo \
      --filter "$filter" --logger "console;verbosity=minimal" >/dev/null
  done
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  cat "$out"
  rm -f "$out"
}
