#!/usr/bin/env bash
# The issue-5 scale benchmark: bench/ei_10k.snn (10,000 LIF neurons, about 1,000,000 recurrent
# synapses, Poisson drive) on snnc's event engine (exact; its stepped and its queue driver) and
# discrete engine (dt = 0.1 ms), and
# the same network in Brian2 (bench/ei_brian2.py) in runtime (Cython) and C++ standalone mode,
# all in one script run; prints one table with ratios against Brian2 C++ standalone.
#
# Usage: bench/ei_brian2.sh [MODEL_SECONDS] [OUT_DIR] [ONLY]   (default 1 s, a temporary folder,
# all runs; ONLY is a comma-separated list of run names: brian2-cpp, brian2-cpp-2threads,
# brian2-runtime, snnc-event, snnc-event-2threads, snnc-queue, snnc-discrete). Timings on a
# shared VM vary by 10-50 % from run to run, so snnc and the Brian2 standalone binary run
# EI_REPEATS times (default 3), each after a pause of EI_COOL seconds (default 5), and their
# median loop time is reported.
#
# Brian2 goes into a virtualenv OUTSIDE the repository ($HOME/venvs/brian2) the first time; it
# needs Python >= 3.10 and a C++ compiler. Simulators run with `nice -n 5` so that builds of
# others on a shared machine still progress; one simulator runs at a time, single-threaded
# except the two 2-thread runs (Brian2's generated code with OpenMP, snnc's stepped driver
# with --threads 2), each compared with the other.
set -euo pipefail
cd "$(dirname "$0")/.."
T="${1:-1}"
OUT="${2:-$(mktemp -d)}"
ONLY="${3:-}"
VENV="$HOME/venvs/brian2"
if [ ! -x "$VENV/bin/python" ]; then
    PY=""
    for p in python3.13 python3.12 "$(pyenv root 2>/dev/null)/versions/3.12.1/bin/python3.12" python3; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
            PY="$p"
            break
        fi
    done
    [ -n "$PY" ] || { echo "no Python >= 3.10 found" >&2; exit 1; }
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "brian2==2.10.1"
fi
if command -v flock >/dev/null 2>&1; then
    flock /tmp/cargo.lock cargo build --release --quiet
else
    cargo build --release --quiet
fi
export PYTHONHASHSEED=0
nice -n 5 "$VENV/bin/python" bench/ei_bench.py "$T" "$OUT" $ONLY
echo "results in $OUT"
