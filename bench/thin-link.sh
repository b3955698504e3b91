#!/usr/bin/env bash
# Sync down over a thin, dropping link: a docker-registry parent behind the test suite's link emulator (a TCP proxy
# that caps the rate at 40 Mbit/s, resets every connection after each 8 MB carried and refuses connections for 3 s),
# and this module (default sync options, standalone twin) syncing one image from it. Prints the bytes the link
# carried from the parent against the unique bytes, and the time against the floor (transfer at the link's rate plus
# the total down time), one JSON line per run.
#
#   bench/thin-link.sh                          # 19 layers of 8 MB (152 MB), 1 run (about 2 minutes)
#   BENCH_LAYERS=8 REPEAT=3 bench/thin-link.sh  # 64 MB, 3 runs
#
# env: BENCH_LAYERS [19], BENCH_LAYER_MB [8], REPEAT [1]. Needs docker-registry, skopeo and htpasswd (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/test-benchmark.sh
source bench/test-benchmark.sh
export BENCH_LAYERS="${BENCH_LAYERS:-19}" BENCH_LAYER_MB="${BENCH_LAYER_MB:-8}"
run_benchmark_test ThinLinkBenchmark THINLINK_BENCH_OUT
