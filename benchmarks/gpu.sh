#!/usr/bin/env bash
# The CUDA checks and measurements of grokcheck in one script, within 8 minutes of wall time:
#
#   1. the CUDA tests (marked `cuda`, or with cuda in their name, and the documented examples);
#   2. bench_sweep.py --device cuda at K = 64, 256 and 1024 (ms per member-step next to the
#      single-model step, at D' = 400 and 1500, and 4000 and 9000 where the ensemble fits);
#   3. one grokking run: grokcheck train --task add --device cuda (p = 113, 30% train);
#   4. paper_time.py: the estimated wall time of the paper-scale sweeps behind Figures 4, 7
#      and 5 from the measured rates (an upper bound from the step caps).
#
# Every step runs under `timeout`, cut to what is left of the 8 minutes. Results go to the
# folder given as $1 (default: $OUT if set, else /tmp/gpu-bench); a summary is printed at the
# end and saved as summary.txt there. Exits 1 with one line on stderr when there is no CUDA GPU.
# Installs nothing it can do without: grokcheck is imported from this checkout, and only when
# that fails is it installed (pip install -e ., with torch pinned to the installed version).
#
#     bash benchmarks/gpu.sh [RESULTS_DIR]          # PYTHON=... picks the interpreter
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python}
DIR=${1:-${OUT:-/tmp/gpu-bench}}
BUDGET=470 # seconds for everything below, out of 480

fail() {
    echo "gpu.sh: $*" >&2
    exit 1
}

cuda=$("$PY" -c "import torch; print(torch.cuda.is_available())" 2>/dev/null) ||
    fail "torch is not importable by $PY (set PYTHON to an interpreter that has it)"
[ "$cuda" = "True" ] || fail "no CUDA GPU on this machine (torch.cuda.is_available() is False)"

mkdir -p "$DIR" || fail "cannot create the results folder $DIR"
DIR=$(cd "$DIR" && pwd)
: >"$DIR/status.txt"
if ! "$PY" -c "import grokcheck.cli" 2>/dev/null; then
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    if ! "$PY" -c "import grokcheck.cli" 2>/dev/null; then
        "$PY" -c "import torch; print('torch==' + torch.__version__)" >"$DIR/constraints.txt"
        "$PY" -m pip install -e . -c "$DIR/constraints.txt" >"$DIR/install.log" 2>&1 ||
            fail "grokcheck is not importable and pip install -e . failed (see $DIR/install.log)"
        echo "install: pip install -e . (torch kept at its version)" >>"$DIR/status.txt"
    fi
fi

# step NAME CAP_S COMMAND...: run COMMAND under timeout (CAP_S, or less when the budget runs
# out; 20 s stay for the estimate), stdout to NAME.out and stderr to NAME.err in $DIR
failed=0
step() {
    local name=$1 cap=$2 t0=$SECONDS
    shift 2
    local limit=$((BUDGET - SECONDS - 20))
    if [ "$name" = estimate ]; then limit=$((BUDGET - SECONDS)); fi
    [ "$limit" -gt "$cap" ] && limit=$cap
    if [ "$limit" -lt 5 ]; then
        echo "$name: not run (out of time)" >>"$DIR/status.txt"
        failed=1
        return 1
    fi
    timeout -k 5 "$limit" "$@" >"$DIR/$name.out" 2>"$DIR/$name.err"
    local rc=$?
    local how="ok"
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && how="timed out"
    [ "$rc" -ne 0 ] && [ "$how" = ok ] && how="failed (exit $rc)"
    echo "$name: $how after $((SECONDS - t0)) s (limit $limit s)" >>"$DIR/status.txt"
    [ "$rc" -eq 0 ] || failed=1
    return "$rc"
}

gpu=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0), torch.__version__)" 2>/dev/null)

if "$PY" -c "import pytest, hypothesis" 2>/dev/null; then
    step tests 90 "$PY" -m pytest -q -p no:cacheprovider -m "cuda or not slow" \
        -k "cuda or test_documented_examples_parse_and_run" tests/
else
    echo "tests: not run (pytest and hypothesis are not installed)" >>"$DIR/status.txt"
    failed=1
fi

sweep() { # K CAP SIZES
    step "sweep-K$1" "$2" "$PY" benchmarks/bench_sweep.py --device cuda --ks "$1" --sizes "$3" \
        --reps 10 --warmup 3 --json
}
sweep 64 60 400,1500,4000,9000
sweep 256 70 400,1500,4000
sweep 1024 80 400,1500

grok_out=$(mktemp -d)/run
step grok 130 "$PY" -m grokcheck train --task add --device cuda --json --out "$grok_out"
pretrain_ms=$("$PY" -c "import json, sys; r = json.load(open(sys.argv[1])); print(1e3 * r['wall_s'] / r['steps'])" \
    "$DIR/grok.out" 2>/dev/null) && pretrain=(--pretrain-ms "$pretrain_ms") || pretrain=()

sweeps=()
for f in "$DIR"/sweep-K*.out; do [ -s "$f" ] && sweeps+=("$f"); done
if [ "${#sweeps[@]}" -gt 0 ]; then
    step estimate 20 "$PY" benchmarks/paper_time.py "${sweeps[@]}" ${pretrain[@]+"${pretrain[@]}"}
else
    echo "estimate: not run (no bench_sweep.py rates)" >>"$DIR/status.txt"
    failed=1
fi

{
    echo "grokcheck on CUDA: $gpu; results in $DIR; $SECONDS s in all"
    cat "$DIR/status.txt"
    [ -s "$DIR/tests.out" ] && echo "tests: $(tail -n 1 "$DIR/tests.out")"
    "$PY" -c "
import json, sys
r = json.load(open(sys.argv[1]))
print(f\"grokking run (p = 113 add, 30% train): {r['stopped']} after {r['steps']} steps, \"
      f\"test acc >= 0.99 at step {r['step_test_99']}, {r['wall_s']:.1f} s, \"
      f\"{1e3 * r['wall_s'] / r['steps']:.2f} ms per step with evaluations\")
" "$DIR/grok.out" 2>/dev/null || echo "grokking run: no result"
    [ -s "$DIR/estimate.out" ] && cat "$DIR/estimate.out"
} | tee "$DIR/summary.txt"
exit "$failed"
