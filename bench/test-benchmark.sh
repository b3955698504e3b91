# Shared by the benchmarks that are Category=Benchmark tests of the integration test project (sourced, not run).
# run_benchmark_test NAME OUT_VARIABLE: builds the tests, runs the test class NAME REPEAT times (default 1) with the
# environment variable OUT_VARIABLE naming a file each run appends its JSON line to, then prints those lines.
run_benchmark_test() {
  local out
  out=$(mktemp)
  dotnet build tests/ConnectedRegistry.IntegrationTests -c Release -nologo -v quiet >/dev/null
  for _ in $(seq 1 "${REPEAT:-1}"); do
    env "$2=$out" dotnet test tests/ConnectedRegistry.IntegrationTests -c Release --no-build -nologo \
      --filter "FullyQualifiedName~$1" --logger "console;verbosity=minimal" >/dev/null
  done
  cat "$out"
  rm -f "$out"
}
