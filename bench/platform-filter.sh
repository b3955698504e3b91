#!/usr/bin/env bash
# Bytes moved to sync one 3-platform image (amd64, arm64, arm/v7, each with a buildx-style attestation manifest) from
# a docker-registry parent, with every platform and with sync.platforms ["linux/arm64"], each into a fresh child; the
# test suite's link emulator counts every byte the link carries both ways (headers, manifests, blobs). One JSON line
# per run: bytesAllPlatforms, bytesArm64Only and their ratio.
#
#   bench/platform-filter.sh                          # layers of 4 MB, 1 run
#   BENCH_LAYER_MB=16 REPEAT=3 bench/platform-filter.sh
#
# env: BENCH_LAYER_MB [4], REPEAT [1]. Needs docker-registry, skopeo and htpasswd (scripts/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/test-benchmark.sh
source bench/test-benchmark.sh
export BENCH_LAYER_MB="${BENCH_LAYER_MB:-4}"
run_benchmark_test PlatformFilterBenchmark PLATFORM_BENCH_OUT
