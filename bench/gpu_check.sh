#!/usr/bin/env bash
# The GPU checks in one short run, for a GPU machine with this repository copied in and no network:
# a venv with the CUDA build of torch 2.13.0 from a wheel folder, nvidia-smi, bench/train.py --gpu,
# tests/test_cuda.py and a bounded quality curve of Quick96. Run from the repository root:
#
#   OUT=/tmp/gpu-out TORCH_WHEELS=/data/wheels bash bench/gpu_check.sh
#
# What it writes goes under $OUT (default ./gpu-check): gpu_check.log (everything), nvidia-smi.txt,
# train_gpu.txt, test_cuda.txt, curve-quick96-gpu/ and one status line per step in summary.txt.
# The venv goes to $VENV (default: a temporary folder), not $OUT: it holds GBs of CUDA libraries.
# Bounds, in seconds: BENCH_TIMEOUT (400), TEST_TIMEOUT (240), CURVE_TIMEOUT (240).
#
# The wheel folder ($TORCH_WHEELS, default ./wheels) is filled on a machine with registry access,
# for the GPU machine's Python (python3 -V there; here cp311) and platform:
#
#   pip download --isolated --dest wheels torch==2.13.0 . pytest setuptools
#   # another Python than the downloading machine's: add
#   #   --only-binary :all: --platform manylinux_2_28_x86_64 --python-version 3.12
#
# PyPI's torch 2.13.0 for Linux x86_64 *is* the CUDA build (CUDA 13: it pulls the nvidia-*-cu13
# wheels and triton, about 3 GB in all). --isolated matters on machines whose pip is set up to prefer
# a local CPU build: there `pip config list` shows a find-links folder (in ~/.config/pip/pip.conf
# and PIP_FIND_LINKS) holding torch-2.13.0+cpu, which torch==2.13.0 matches and pip prefers over
# PyPI's 2.13.0; a --find-links given on the command line is added to that folder, not put in its
# place. --isolated ignores the user config and PIP_* variables (the global /etc/pip.conf and
# /etc/xdg/pip still apply: certificates, constraints). Check the folder holds
# torch-2.13.0-cp3XX-...whl, without "+cpu" in the name.
set -uo pipefail

OUT=${OUT:-$PWD/gpu-check}
TORCH_WHEELS=${TORCH_WHEELS:-./wheels}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-400}
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
CURVE_TIMEOUT=${CURVE_TIMEOUT:-240}

mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1

die() {
    echo "gpu_check: $*" >&2
    exit 2
}

[ -f pyproject.toml ] && [ -f bench/train.py ] || die "run from the repository root (no pyproject.toml or bench/train.py in $PWD)"
[ -d "$TORCH_WHEELS" ] || die "no wheel folder at $TORCH_WHEELS: set TORCH_WHEELS (how to fill one: the top of $0)"
shopt -s nullglob
torch_wheels=("$TORCH_WHEELS"/torch-2.13.0-*.whl)
shopt -u nullglob
[ ${#torch_wheels[@]} -gt 0 ] || die "$TORCH_WHEELS holds no CUDA torch-2.13.0-*.whl (a +cpu build does not count; the top of $0 says how to fetch one)"

VENV=${VENV:-$(mktemp -d /tmp/swaplib-gpu-venv.XXXXXX)}
PY=$VENV/bin/python
pip_offline() {
    "$PY" -m pip install -q --isolated --no-cache-dir --no-index --find-links "$TORCH_WHEELS" "$@"
}

echo "== venv in $VENV, wheels from $TORCH_WHEELS, outputs in $OUT"
python3 -m venv "$VENV" || die "python3 -m venv failed"
pip_offline torch==2.13.0 || die "torch 2.13.0 did not install from $TORCH_WHEELS (wrong Python version or platform?)"
"$PY" -c "import sys, torch; sys.exit(torch.version.cuda is None and f'torch {torch.__version__} is a CPU build')" ||
    die "the wheel folder gave a CPU build of torch"
# The project from this checkout, its dependencies from the folder; setuptools first: the build
# backend, used without build isolation since there is no index to fetch it from.
pip_offline setuptools pytest || die "setuptools or pytest missing from $TORCH_WHEELS"
pip_offline --no-build-isolation -e . || die "the project's dependencies did not install from $TORCH_WHEELS"

status=0
step() { # step NAME COMMAND...: run it, note its exit status in summary.txt, go on to the next step
    local name=$1
    shift
    echo "== $name"
    "$@"
    local rc=$?
    echo "$name: exit $rc" >>"$OUT/summary.txt"
    [ $rc -eq 0 ] || status=1
}
gpu_info() { nvidia-smi | tee "$OUT/nvidia-smi.txt"; }
train_gpu() { timeout "$BENCH_TIMEOUT" "$PY" bench/train.py --gpu | tee "$OUT/train_gpu.txt"; }
test_cuda() { timeout "$TEST_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_cuda.py | tee "$OUT/test_cuda.txt"; }
curve() { # stopped at the bound (124) it still leaves its rows so far: that is the point, not a failure
    timeout "$CURVE_TIMEOUT" "$PY" bench/quality_curve.py --preset quick96 --samples 40000 --every 4000 \
        --out "$OUT/curve-quick96-gpu"
    local rc=$?
    [ $rc -eq 124 ] && echo "curve stopped after $CURVE_TIMEOUT s (CURVE_TIMEOUT)"
    [ $rc -eq 0 ] || [ $rc -eq 124 ]
}

: >"$OUT/summary.txt"
step nvidia-smi gpu_info
step train-gpu train_gpu
step test-cuda test_cuda
step curve-quick96 curve

echo "== summary"
cat "$OUT/summary.txt"
exit $status
