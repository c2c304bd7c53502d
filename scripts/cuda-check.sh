#!/usr/bin/env bash
# The checks to run first on a machine with an NVIDIA GPU (issue 8), in one go: build with CUDA, the
# native kernel tests, the package's GPU tests, then the benchmarks (kernels and encoder, encoding,
# the Trainer step). Each step's output goes to OUT_DIR/<step>.log and its exit code to OUT_DIR/summary;
# a failing step does not stop the later ones. Usage, from the repository root:
#   scripts/cuda-check.sh [OUT_DIR] [--peak-tflops N]     (default OUT_DIR: ./cuda-check, N: 989)
set -u
out="${1:-cuda-check}"
peak=989
if [ "${2:-}" = "--peak-tflops" ] && [ -n "${3:-}" ]; then peak="$3"; fi
mkdir -p "$out"
: > "$out/summary"

step() {  # step NAME TIMEOUT_S COMMAND...
  local name="$1" limit="$2"
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $((SECONDS - t0))s" | tee -a "$out/summary"
}

nvidia-smi > "$out/nvidia-smi.log" 2>&1 || echo "nvidia-smi: not available" | tee -a "$out/summary"
step build 600 npx cmake-js compile --out build
step cuda_test 300 build/cuda_test
step vitest_cuda 600 npx vitest run test/cuda.test.ts test/cuda-train.test.ts test/cuda-step.test.ts test/train-cli.test.ts
step cuda_bench 300 build/cuda_bench --peak-tflops "$peak"
step encode_bench 300 env SPLADE_BENCH_PEERS=0 SPLADE_BENCH_LAYERS=12 npx tsx bench/encode/encode.bench.ts --device cuda
step train_bench 600 npx tsx bench/train/train.bench.ts --device cuda --peak-tflops "$peak"
date -u +"done %Y-%m-%d %H:%M UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/summary"
