#!/usr/bin/env bash
# The CUDA checks, for a machine with a GPU (a lent H100 / H200: no network, node_modules present, build
# outputs absent or stale). In about 3-4 minutes on an H100 with 16 cores:
#   1. builds the addon, the native tests and build/cuda_bench with the CUDA backend into build/ (for this
#      GPU's architecture only);
#   2. checks that the addon sees the device (else every CUDA test would skip and pass);
#   3. runs the CUDA tests: build/cuda_test (every kernel against its CPU reference; CudaEncoder's fp32 and
#      bf16 forwards, gradients(), the Trainer's device step and mlm_gradients, with and without dropout,
#      against the CPU's encoder) and test/cuda.test.ts, cuda-train.test.ts, cuda-step.test.ts
#      (SpladeModel and the Trainer on 'cuda' against the CPU);
#   4. runs the CUDA benches once: build/cuda_bench (kernels' TFLOP/s, CudaEncoder forward and training
#      step), bench/encode and bench/train with --device cuda (splade only, no peers).
# Exit 1 when the build fails, no device is seen, or a test or a bench fails (the benches assert nothing:
# their figures are printed). Every step's output is kept in $OUT/gpu-check (or bench/.cache/gpu-check).
#   bash bench/cuda/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/cuda/bin"
logs="${OUT:-$PWD/bench/.cache}/gpu-check"
mkdir -p "$logs"
failed=()

# step NAME SECONDS CMD...: CMD with its output shown and kept in $logs/NAME.log; a failure is recorded
step() {
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  echo "== $name: $*"
  timeout "$limit" "$@" 2>&1 | tee "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" = 0 ] || failed+=("$name")
  return "$rc"
}

command -v nvcc >/dev/null || { echo "gpu-check: no nvcc (PATH, /usr/local/cuda/bin): no CUDA backend to build"; exit 1; }
nvidia-smi -L || { echo "gpu-check: nvidia-smi sees no GPU"; exit 1; }
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')

# (the architecture applies when build/ is configured afresh; an existing build/ is built incrementally)
step build 420 env CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
  npx cmake-js compile --out build ${arch:+--CDSPLADE_CUDA_ARCHITECTURES=$arch} || exit 1
[ -x build/cuda_bench ] || { echo "gpu-check: the build has no CUDA backend (no build/cuda_bench)"; exit 1; }
unset SPLADE_ADDON  # the addon just built (build/Release)
step device 60 node --import tsx -e "import('./lib/info.ts').then(({ info }) => {
  const i = info(); console.log(JSON.stringify({ cuda: i.cuda, cudaDevices: i.cudaDevices }));
  if (!i.cuda || !(i.cudaDevices > 0)) process.exit(1); })" || exit 1

step cuda_test 300 build/cuda_test
grep -q "skipped the kernel checks" "$logs/cuda_test.log" && failed+=("cuda_test skipped its kernel checks")
step vitest 300 npx vitest run test/cuda.test.ts test/cuda-train.test.ts test/cuda-step.test.ts

step cuda_bench 180 build/cuda_bench --iters 5
step encode_bench 240 env SPLADE_BENCH_PEERS=0 SPLADE_BENCH_PRECISIONS=fp32,bf16 \
  npx tsx bench/encode/encode.bench.ts --device cuda
step train_bench 240 env SPLADE_BENCH_TORCH=0 npx tsx bench/train/train.bench.ts --device cuda

if [ ${#failed[@]} -gt 0 ]; then
  echo "gpu-check: FAILED: ${failed[*]} (logs in $logs)"
  exit 1
fi
echo "gpu-check: passed (logs in $logs)"
