#!/usr/bin/env bash
# main.sh - the main job: installs what is missing, builds, starts a throwaway
# cluster and runs the benchmarks against it, printing every figure beside its
# peer measured in the same run (bench/run.sh stops the cluster it started).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null
exec bench/run.sh "$@"
