#!/usr/bin/env bash
# ufl-cuda on a GPU machine: its tests (the GPU ones included) and its benchmark against
# PyTorch eager, torch.compile and MONAI. One script, two modes, run from the repository root:
#
#   bash ufl-cuda/gpu-check.sh prepare     # HERE (Rust machine): build and collect what travels
#   bash ufl-cuda/gpu-check.sh             # THERE (GPU machine, no Rust): run, write to $OUT
#
# `prepare` builds the test and bench binaries (cargo test --no-run -p ufl-cuda --release),
# strips them into .gpu/bin/ (unit, nvrtc, mirror, gpu, bench), and downloads the MONAI 1.6.1
# wheel (pure Python; it needs only torch and numpy, which the GPU machine has) into
# .gpu/wheels/. `.gpu/` is ignored by git (.gitignore), so it must be CARRIED:
#
#   carry: [".gpu"]            (about 8 MiB in all; the limit is 64 MiB — `prepare` prints it)
#   command: bash ufl-cuda/gpu-check.sh
#   timeout: 450 s             (the stages share a budget of 420 s, most informative first)
#
# The run mode uses only what the GPU machine has: the carried binaries (x86-64, glibc 2.36),
# the CUDA driver, an NVRTC 13 library (found under /usr/local/cuda* or the torch environment
# and put on LD_LIBRARY_PATH), python3 with torch, and pip to install the carried wheel into
# /tmp/site. It writes under $OUT: summary.txt, env.log, tests.log, bench.log, ufl_cuda.json,
# torch.log, torch.json. Exit status: 0 everything ran and passed, 1 something failed,
# 2 not prepared, 3 no GPU (every GPU test reported itself skipped).

set -u
cd "$(dirname "$0")/.." || exit 2
GPU_DIR=.gpu

prepare() {
    set -eo pipefail
    command -v cargo >/dev/null || { echo "prepare needs cargo (run it on the Rust machine)"; exit 2; }
    mkdir -p "$GPU_DIR/bin" "$GPU_DIR/wheels"
    rm -f "$GPU_DIR"/bin/*
    local listing
    listing=$(mktemp)
    cargo test --no-run -p ufl-cuda --release --message-format=json >"$listing"
    python3 - "$listing" "$GPU_DIR/bin" <<'PY'
import json, shutil, sys
listing, dest = sys.argv[1], sys.argv[2]
names = {"ufl_cuda": "unit"}
copied = []
for line in open(listing):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    exe = m.get("executable") if m.get("reason") == "compiler-artifact" else None
    if not exe or m["package_id"].find("ufl-cuda") < 0:
        continue
    name = names.get(m["target"]["name"], m["target"]["name"])
    if name == "emulate":  # the CPU emulation of the kernels has nothing to show on a GPU
        continue
    shutil.copy(exe, f"{dest}/{name}")
    copied.append(name)
print("collected:", " ".join(sorted(copied)))
PY
    rm -f "$listing"
    strip "$GPU_DIR"/bin/* 2>/dev/null || true
    if ! ls "$GPU_DIR"/wheels/monai-1.6.1-*.whl >/dev/null 2>&1; then
        python3 -m pip download --no-deps monai==1.6.1 -d "$GPU_DIR/wheels"
    fi
    # The oracle's command line and the default case set, for the PyTorch file-protocol check.
    cargo build --release --bin ufl-oracle
    cp target/release/ufl-oracle "$GPU_DIR/bin/ufl-oracle"
    strip "$GPU_DIR/bin/ufl-oracle" 2>/dev/null || true
    rm -rf "$GPU_DIR/cases"
    "$GPU_DIR/bin/ufl-oracle" cases --out "$GPU_DIR/cases" --groups default
    for b in unit nvrtc mirror gpu harness bench ufl-oracle; do
        [ -x "$GPU_DIR/bin/$b" ] || { echo "missing $GPU_DIR/bin/$b"; exit 1; }
    done
    du -sh "$GPU_DIR"
    echo "prepared: carry [\"$GPU_DIR\"] and run: bash ufl-cuda/gpu-check.sh"
}

if [ "${1:-}" = "prepare" ]; then
    prepare
    exit 0
fi

: "${OUT:?set OUT to the folder that receives the logs}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
status=0

if [ ! -x "$GPU_DIR/bin/gpu" ] || [ ! -x "$GPU_DIR/bin/bench" ]; then
    say "NOT PREPARED: $GPU_DIR/bin is missing; run 'bash ufl-cuda/gpu-check.sh prepare' first and carry $GPU_DIR"
    exit 2
fi

# ---- environment ---------------------------------------------------------------------------
{
    echo "== date"; date -u
    echo "== nvidia-smi"; nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    echo "== uname"; uname -a
} >"$OUT/env.log" 2>&1

gpu_present=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    gpu_present=1
fi
say "GPU: $( [ $gpu_present = 1 ] && nvidia-smi -L 2>/dev/null | head -1 || echo none found)"

# NVRTC and the driver library, wherever this machine keeps them.
for d in /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu; do
    [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
nvrtc=$(find -H /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/local /opt -maxdepth 8 \
    -name 'libnvrtc.so.13*' -not -name '*alt*' 2>/dev/null | head -1)
if [ -n "$nvrtc" ]; then
    LD_LIBRARY_PATH="$(dirname "$nvrtc"):${LD_LIBRARY_PATH:-}"
fi
export LD_LIBRARY_PATH
say "NVRTC: ${nvrtc:-not found}"
echo "== LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >>"$OUT/env.log"

export UFL_CUDA_REQUIRE_GPU=$gpu_present
export RUST_BACKTRACE=1

# Every stage gets what is left of the budget (the device run's limit is 360 s), and the most
# informative stages go first: the GPU tests, the benchmarks, then the CPU-only tests that
# already ran on the Rust machine.
BUDGET=${UFL_CHECK_BUDGET:-420}
started=$SECONDS
limit() {  # limit WANTED: seconds a stage may take, 0 when the budget is spent
    local left=$((BUDGET - (SECONDS - started)))
    [ "$left" -gt "$1" ] && left=$1
    [ "$left" -lt 10 ] && left=0
    echo "$left"
}

: >"$OUT/tests.log"
run_tests() {  # run_tests NAME WANTED_SECONDS
    local t=$1 s rc section line skips
    s=$(limit "$2")
    if [ "$s" = 0 ]; then say "tests $t: not run, time budget spent"; status=1; return; fi
    echo "===== $t" >>"$OUT/tests.log"
    timeout "$s" "$GPU_DIR/bin/$t" --test-threads=1 >>"$OUT/tests.log" 2>&1
    rc=$?
    section=$(sed -n "/^===== $t\$/,\$p" "$OUT/tests.log")
    line=$(grep -E '^test result:' <<<"$section" | tail -1)
    skips=$(grep -c 'SKIPPED ' <<<"$section")
    say "tests $t: exit $rc$( [ $rc = 124 ] && echo ' (timed out)'); ${line:-no result line}; $skips skipped"
    [ $rc = 0 ] || status=1
}

run_tests unit 30
run_tests gpu 120
run_tests harness 150

# ---- benchmark: ufl-cuda -------------------------------------------------------------------
BENCH_DIR=/tmp/ufl-cuda-bench
rm -rf "$BENCH_DIR"
s=$(limit 90)
if [ "$s" = 0 ]; then
    echo "not run: time budget spent" >"$OUT/bench.log"
    rc=124
else
    timeout "$s" "$GPU_DIR/bin/bench" --out "$BENCH_DIR" --iters 200 --warmup 50 \
        >"$OUT/bench.log" 2>&1
    rc=$?
fi
case $rc in
    0) grep -E 'forward \+ backward|checked' "$OUT/bench.log" | sed 's/^ */bench: /' | tee -a "$SUMMARY"
       cp "$BENCH_DIR/ufl_cuda.json" "$OUT/ufl_cuda.json" ;;
    3) say "bench: skipped ($(head -1 "$OUT/bench.log"))" ;;
    *) say "bench: FAILED (exit $rc), see bench.log"; status=1 ;;
esac

# ---- benchmark: PyTorch eager, torch.compile, MONAI ----------------------------------------
PY=python3
if ! $PY -c 'import torch' >/dev/null 2>&1 && [ -x /opt/torch/.venv/bin/python3 ]; then
    PY=/opt/torch/.venv/bin/python3
fi
if [ -s "$BENCH_DIR/pred.f32" ] && $PY -c 'import torch' >/dev/null 2>&1; then
    wheel=$(ls "$GPU_DIR"/wheels/monai-1.6.1-*.whl 2>/dev/null | head -1)
    if [ -n "$wheel" ]; then
        $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$wheel" \
            >"$OUT/torch.log" 2>&1 || say "MONAI wheel did not install (see torch.log)"
    fi
    s=$(limit 170)
    if [ "$s" = 0 ]; then
        echo "not run: time budget spent" >>"$OUT/torch.log"
        prc=124
    else
        PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 timeout "$s" \
            $PY ufl-cuda/bench/compare_torch.py --inputs "$BENCH_DIR" --iters 100 --warmup 10 \
            --json "$OUT/torch.json" >>"$OUT/torch.log" 2>&1
        prc=$?
    fi
    grep -E 'median|faster|goal|vs MONAI|SKIPPED|FAILED|compilation' "$OUT/torch.log" \
        | sed 's/^/torch: /' | tee -a "$SUMMARY"
    [ $prc = 0 ] || { say "torch comparison: FAILED (exit $prc), see torch.log"; status=1; }
else
    say "torch comparison: skipped ($( [ -s "$BENCH_DIR/pred.f32" ] && echo "no python3 with torch" || echo "no inputs from the bench"))"
fi

# ---- an independent float32 GPU implementation through the file protocol ----------------------
# examples/check_pytorch.py (PyTorch autograd, float32, on the GPU) answers the default case set;
# the oracle's `check` judges its results as it would any backend's.
s=$(limit 60)
if [ "$s" != 0 ] && $PY -c 'import torch' >/dev/null 2>&1 && [ -s "$GPU_DIR/cases/cases.json" ]; then
    PYTHONUNBUFFERED=1 timeout "$s" $PY examples/check_pytorch.py "$GPU_DIR/cases/cases.json" \
        "$OUT/torch-results.json" --device cuda >"$OUT/torch-check.log" 2>&1
    "$GPU_DIR/bin/ufl-oracle" check --cases "$GPU_DIR/cases/cases.json" --results "$OUT/torch-results.json" \
        --report "$OUT/torch-report.json" >>"$OUT/torch-check.log" 2>&1
    crc=$?
    say "pytorch file protocol: $(grep -E '^[0-9]+ cases' "$OUT/torch-check.log" | tail -1) (check exit $crc)"
    [ $crc = 0 ] || status=1
else
    say "pytorch file protocol: not run (budget, torch or cases missing)"
fi

# ---- the CPU-only tests (they also run without a GPU) -----------------------------------------
run_tests mirror 40
run_tests nvrtc 60

if [ $gpu_present = 0 ] && [ $status = 0 ]; then
    say "RESULT: no GPU here; the GPU tests and benchmarks reported themselves skipped"
    exit 3
fi
say "RESULT: $( [ $status = 0 ] && echo 'all passed' || echo 'FAILURES (see the logs)')"
exit $status
