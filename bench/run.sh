#!/usr/bin/env bash
# Runs the benchmark binaries that `make bench` built in build/default/bench,
# writes bench/results/<binary>.json (medians of 3 repetitions, with mean,
# stddev and cv), then draws the charts with bench/plot.py. Builds nothing.
#
#   bench/run.sh           the default subset: a few minutes on 2 cores
#   bench/run.sh --full    attention_bench over its whole grid (much longer)
#
# MHSA_BENCH_MIN_TIME (seconds per repetition, default 0.2) trades time for
# steadier numbers. Run it on an otherwise idle machine: with 2 cores, any
# other process halves the 2-thread results (each binary's context reports
# a peak_warning when its start-up FMA measurement saw that).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/build/default/bench"
out="$root/bench/results"

full=0
for arg in "$@"; do
  case "$arg" in
    --full) full=1 ;;
    *) echo "usage: bench/run.sh [--full]" >&2; exit 2 ;;
  esac
done

for name in peak_bench gemm_bench softmax_bench attention_bench decode_bench gemm_bf16_bench \
  prefill_bench; do
  if [[ ! -x "$bin/$name" ]]; then
    echo "bench/run.sh: $bin/$name is missing; run 'make bench' (it builds first)" >&2
    exit 1
  fi
done
mkdir -p "$out"
# The per-target layer runs are written below for the targets this CPU has;
# another machine's (a target this one lacks) would otherwise stay behind
# and be drawn and summarised beside this run's.
rm -f "$out"/attention_bench_*.json "$out"/prefill_bench_*.json

# This environment forces OpenBLAS's kernel choice (OPENBLAS_CORETYPE) and
# cache size; unset, OpenBLAS detects the CPU itself, as it would for a user.
# gemm_bench and attention_bench report the kernel it chose
# (openblas_corename in their context).
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
# The library's target is chosen per run below; an inherited one would
# silently change the main results.
unset MHSA_TARGET

# The repetitions of all of a binary's benchmarks run in a random order
# (interleaved): a contender and its peers then share the host's slow and
# fast minutes, so the ratios between them hold even when the VM's speed
# drifts during the run, as it does by several percent.
common=(--benchmark_format=console
        --benchmark_out_format=json
        --benchmark_repetitions=3
        --benchmark_enable_random_interleaving=true
        --benchmark_report_aggregates_only=true
        "--benchmark_min_time=${MHSA_BENCH_MIN_TIME:-0.2}")

# run <json name> <binary> [extra arguments...]
run() {
  local json="$1" binary="$2"
  shift 2
  echo "== $binary -> bench/results/$json.json"
  "$bin/$binary" "${common[@]}" "--benchmark_out=$out/$json.json" "$@"
}

start=$SECONDS
run peak_bench peak_bench
run gemm_bench gemm_bench
run softmax_bench softmax_bench
if [[ $full -eq 1 ]]; then
  MHSA_BENCH_FULL=1 run attention_bench attention_bench
  MHSA_BENCH_FULL=1 run decode_bench decode_bench
else
  run attention_bench attention_bench
  run decode_bench decode_bench
fi

# bf16 against float32: the GEMM on every bf16 kernel. (The decode step's
# bf16 rows, of the layer and of the kernel-level GQA attention, are in
# decode_bench.json with their float32 peers.)
run gemm_bf16_bench gemm_bf16_bench

# The kernel-level Attention in prefill, float32 and bf16 tensors
# (prefill_bench.json); when AVX3 is not the default (a bf16 pseudo-target
# is), again with MHSA_TARGET=AVX3 in the loop below: the bf16 path without
# bf16 instructions, as on an AVX-512 CPU without them.
run prefill_bench prefill_bench

# Every other target mhsa offers, on a few sizes and one thread:
# attention_bench_<target>.json. The best target's are in attention_bench.json.
# The pseudo-targets (AVX3_BF16 after the default AVX3_AMX, then AVX3 with
# the bf16 instructions off) change only mhsa_bf16; each binary's peak
# follows the SIMD target, so pct_peak is relative to the code that ran.
mapfile -t targets < <("$bin/attention_bench" --list_targets)
for target in "${targets[@]:1}"; do
  MHSA_TARGET="$target" run "attention_bench_$target" attention_bench \
    '--benchmark_filter=^Attention/mhsa(_bf16)?/B:(1|2)/T:(128|1024)/E:512/H:8/threads:(1|2)/'
  if [[ "$target" == AVX3 ]]; then
    MHSA_TARGET="$target" run "prefill_bench_$target" prefill_bench
  fi
done
echo "== benchmarks took $((SECONDS - start)) s"

# Debian's python3-matplotlib lives in /usr/bin/python3's packages; a python3
# earlier on PATH (pyenv, a venv) may not see it.
python=/usr/bin/python3
[[ -x "$python" ]] || python=python3
"$python" "$root/bench/plot.py" "$out"
